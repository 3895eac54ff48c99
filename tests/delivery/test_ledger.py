"""One writer per state machine: ``delivery.ledger`` for ``Delivery.status`` and
``delivery.lifecycle`` for ``Campaign.status``, each through one table of allowed moves.

The first tests read the source: they fail when a module other than the writer sets
a status (an ORM ``update``/``create``, an attribute, or raw SQL), so a new code path
cannot bypass the table. The others check that a move leaves rows in other states
alone."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

from campaigns.models import NOT_STARTED, Kind, Status
from delivery import ledger, lifecycle
from delivery.models import Delivery, DeliveryStatus
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriberFactory,
)

ROOT = Path(settings.BASE_DIR)
# Tests and benchmarks build their fixtures directly; migrations describe the schema.
NOT_APP_CODE = {"tests", "bench", "migrations", ".venv", "node_modules", "var", "static"}
WRITES = {"update", "create", "bulk_create", "get_or_create", "update_or_create"}
DELIVERY_TABLE = re.compile(r"\b(INSERT\s+INTO|UPDATE)\s+delivery_delivery\b", re.IGNORECASE)
STATUS_LITERAL = re.compile(
    r"'(" + "|".join(DeliveryStatus.values) + r")'",
)


def app_modules() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not NOT_APP_CODE.intersection(path.relative_to(ROOT).parts)
    ]


def campaign_status_names(tree: ast.Module) -> set[str]:
    """The names this module gives ``campaigns.models.Status``."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "campaigns.models"
        for alias in node.names
        if alias.name == "Status"
    }


def status_writes(path: Path) -> list[tuple[str, int, str]]:
    """(machine, line, code) for each write of a status in this module."""
    tree = ast.parse(path.read_text())
    campaign_names = campaign_status_names(tree)

    def machine(value: ast.expr) -> str | None:
        code = ast.unparse(value)
        if "DeliveryStatus" in code or (
            isinstance(value, ast.Constant) and value.value in DeliveryStatus.values
        ):
            return "delivery"
        if any(re.search(rf"(?<![\w.]){name}\.[A-Z_]+", code) for name in campaign_names):
            return "campaign"
        if isinstance(value, ast.Constant) and value.value in Status.values:
            return "campaign"
        return None

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in WRITES:
            for keyword in node.keywords:
                if keyword.arg == "status" and (kind := machine(keyword.value)):
                    found.append((kind, node.lineno, ast.unparse(node)[:120]))
        elif isinstance(node, ast.Assign):
            targets = [target for target in node.targets if isinstance(target, ast.Attribute)]
            kind = machine(node.value)
            if kind and any(target.attr == "status" for target in targets):
                found.append((kind, node.lineno, ast.unparse(node)[:120]))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (
                DELIVERY_TABLE.search(node.value)
                or ("delivery_delivery" in node.value and STATUS_LITERAL.search(node.value))
            )
        ):
            found.append(("delivery", node.lineno, node.value.strip()[:120]))
    return found


def test_only_the_ledger_writes_a_delivery_status_and_only_lifecycle_a_campaign_status():
    writers = {"delivery": "delivery/ledger.py", "campaign": "delivery/lifecycle.py"}
    stray = [
        f"{path.relative_to(ROOT)}:{line} writes a {kind} status: {code}"
        for path in app_modules()
        for kind, line, code in status_writes(path)
        if str(path.relative_to(ROOT)) != writers[kind]
    ]
    assert stray == []


def test_the_source_check_sees_each_kind_of_write(tmp_path):
    """The check above would catch each way a status has been written before."""
    module = tmp_path / "sample.py"
    module.write_text(
        "from campaigns.models import Status as CampaignStatus\n"
        "Delivery.objects.filter(pk=1).update(status=DeliveryStatus.SKIPPED)\n"
        "Campaign.objects.filter(pk=1).update(status=CampaignStatus.SENT)\n"
        "campaign.status = CampaignStatus.SENDING\n"
        "SQL = \"UPDATE delivery_delivery SET status = 'sent'\"\n"
        "ROWS = \"INSERT INTO delivery_delivery (status) VALUES ('queued')\"\n"
    )
    kinds = sorted(kind for kind, _, _ in status_writes(module))
    assert kinds == ["campaign", "campaign", "delivery", "delivery", "delivery"]


def test_the_writers_have_no_literal_status_in_their_sql():
    for path in ("delivery/ledger.py", "delivery/lifecycle.py", "delivery/audience.py"):
        source = (ROOT / path).read_text()
        assert not STATUS_LITERAL.search(source), path


def test_every_move_reaches_a_known_state_from_known_states():
    for name, move in ledger.MOVES.items():
        assert move.to in DeliveryStatus.values, name
        assert set(move.sources) <= set(DeliveryStatus.values), name
        assert move.to not in move.sources, name
    for name, move in lifecycle.MOVES.items():
        assert move.to in Status.values, name
        assert set(move.sources) <= set(Status.values), name
    # Nothing leaves ``sent`` or ``skipped``: a message out is out.
    leaving = {source for move in ledger.MOVES.values() for source in move.sources}
    assert not leaving & {DeliveryStatus.SENT, DeliveryStatus.SKIPPED}


@pytest.fixture
def rows():
    """A sending campaign with one row in each state."""
    newsletter = NewsletterFactory()
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENDING)
    campaign.lists.add(MailingListFactory(newsletter=newsletter))
    return campaign, {
        status: Delivery.objects.create(
            campaign=campaign,
            subscriber=SubscriberFactory(newsletter=newsletter),
            status=status,
            worker="w",
            attempts=1,
        )
        for status in DeliveryStatus.values
    }


def statuses(rows: dict) -> dict[str, str]:
    return {was: Delivery.objects.get(pk=row.pk).status for was, row in rows.items()}


@pytest.mark.django_db
def test_a_release_moves_only_claimed_rows(rows):
    _, by_status = rows
    ledger.release([row.pk for row in by_status.values()], "w")
    after = statuses(by_status)
    assert after.pop(DeliveryStatus.CLAIMED) == DeliveryStatus.QUEUED
    assert all(was == now for was, now in after.items())


@pytest.mark.django_db
def test_a_failure_never_touches_a_sent_or_skipped_row(rows):
    _, by_status = rows
    rows_queryset = Delivery.objects.filter(pk__in=[row.pk for row in by_status.values()])
    assert ledger._move("fail", rows_queryset, last_error="x") == 3
    after = statuses(by_status)
    assert after[DeliveryStatus.SENT] == DeliveryStatus.SENT
    assert after[DeliveryStatus.SKIPPED] == DeliveryStatus.SKIPPED
    assert after[DeliveryStatus.QUEUED] == DeliveryStatus.QUEUED
    failed = {was for was, now in after.items() if now == DeliveryStatus.FAILED}
    assert failed == {
        DeliveryStatus.CLAIMED,
        DeliveryStatus.IN_FLIGHT,
        DeliveryStatus.UNCERTAIN,
        DeliveryStatus.FAILED,
    }


@pytest.mark.django_db
def test_a_landing_records_a_message_the_sweeper_had_given_up_on(rows):
    """The server accepted it after the lease ran out: it is sent, not uncertain."""
    _, by_status = rows
    flight = ledger.Flight("w")
    flight.land(by_status[DeliveryStatus.UNCERTAIN].pk, "<id@example.org>")
    flight.flush()
    row = Delivery.objects.get(pk=by_status[DeliveryStatus.UNCERTAIN].pk)
    assert (row.status, row.esp_message_id) == (DeliveryStatus.SENT, "<id@example.org>")
    # Only a claimed row is taken off.
    assert not ledger.Flight("w").take_off(by_status[DeliveryStatus.QUEUED].pk)


@pytest.mark.django_db
def test_a_campaign_move_from_a_state_it_does_not_allow_is_refused(rows):
    campaign, _ = rows
    for move in ("resume", "unschedule", "schedule"):
        with pytest.raises(lifecycle.CampaignStateError, match="It is sending"):
            lifecycle._transition(campaign, move)
    assert lifecycle._move_where("finish", type(campaign).objects.filter(pk=campaign.pk)) == 1
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT


@pytest.mark.django_db
def test_an_automation_campaign_is_never_finished():
    campaign = CampaignFactory(kind=Kind.AUTOMATION, status=Status.SENDING)
    assert lifecycle.finish_if_done(campaign.pk) is False
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING


@pytest.mark.django_db
def test_one_rule_says_whether_a_campaign_can_be_sent():
    newsletter = NewsletterFactory()
    campaign = CampaignFactory(newsletter=newsletter)
    assert lifecycle.campaign_sendability(campaign=campaign).reasons == [
        "Choose at least one list to send it to."
    ]
    # A test only needs content that renders; the send page judges the lists it chose.
    assert lifecycle.campaign_sendability(campaign=campaign, test=True).ok
    news = MailingListFactory(newsletter=newsletter)
    assert lifecycle.campaign_sendability(campaign=campaign, list_ids=[news.pk]).ok
    campaign.lists.add(news)
    assert lifecycle.campaign_sendability(campaign=campaign).ok
    assert campaign.status in NOT_STARTED
    campaign.status = Status.SENT
    assert lifecycle.campaign_sendability(campaign=campaign).reasons == ["It is sent, not a draft."]
