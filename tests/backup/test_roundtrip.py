import io
import json

import pytest
from django.core.management import CommandError, call_command

from backup.exporting import MODELS
from campaigns.models import Campaign, Layout, Status
from newsletter.models import Newsletter
from subscribers import ledger, personal_data, services, suppressions
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    MailingList,
    OptIn,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionReason,
)
from subscribers.tokens import Claim
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriberFactory,
)

pytestmark = pytest.mark.django_db


def subscribe(newsletter, lists, email, **kwargs):
    return services.subscribe(
        newsletter=newsletter,
        email=email,
        lists=lists,
        source=ConsentSource.FORM,
        wording=newsletter.consent_text,
        **kwargs,
    ).subscriber


@pytest.fixture
def newsletter():
    """A newsletter with a little of everything an export must carry."""
    newsletter = NewsletterFactory(slug="proj", consent_text="Yes, Proj News.")
    news = MailingListFactory(newsletter=newsletter, slug="news", name="News")
    releases = MailingListFactory(newsletter=newsletter, slug="releases", opt_in=OptIn.SINGLE)
    sent = CampaignFactory(newsletter=newsletter, status=Status.SENT, body="# Déjà vu ✓")
    sent.lists.set([news, releases])
    CampaignFactory(newsletter=newsletter, layout=sent.layout)

    ada = subscribe(newsletter, [news, releases], "ada@example.org", name="Ada")
    services.confirm(claim=Claim(ada.pk, newsletter.pk))
    grace = subscribe(newsletter, [releases], "grace@example.org")
    services.leave_newsletter(
        claim=Claim(grace.pk, newsletter.pk), source=ConsentSource.PREFERENCE_CENTER
    )
    subscribe(newsletter, [news], "linus@example.org")  # pending
    gone = subscribe(newsletter, [releases], "gone@example.org")
    personal_data.erase(claim=Claim(gone.pk, newsletter.pk), source=ConsentSource.DASHBOARD)
    subscribe(newsletter, [news], "attested@example.org", attestation="met at FOSDEM", actor="me")
    return newsletter


def snapshot() -> dict:
    """Every row a restore must bring back, as plain values."""
    state = {model._meta.label: list(model.objects.order_by("pk").values()) for model in MODELS}
    for row in state["subscribers.Suppression"]:
        del row["id"]  # a restore inserts them anew
    for row in state["campaigns.Campaign"]:
        del row["created_by_id"]
    state["campaign lists"] = sorted(
        Campaign.lists.through.objects.values_list("campaign_id", "mailinglist_id")
    )
    return state


def export(slug="proj") -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_newsletter", slug, stdout=out, stderr=err)
    assert "Exported" in err.getvalue()
    return out.getvalue()


def empty_the_database():
    for model in [ConsentEvent, Subscription, Suppression, Campaign, Layout, MailingList]:
        model.objects.all().delete()
    Subscriber.objects.all().delete()
    Newsletter.objects.all().delete()


def restore(tmp_path, text: str) -> str:
    path = tmp_path / "export.jsonl"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("import_newsletter", str(path), stdout=out)
    return out.getvalue()


def test_export_then_restore_into_an_empty_database_gives_back_the_same_rows(newsletter, tmp_path):
    before = snapshot()
    text = export()
    header = json.loads(text.splitlines()[0])
    assert header["crier_export"] == 1 and header["newsletter"] == "proj"

    empty_the_database()
    output = restore(tmp_path, text)

    assert "Restored proj" in output
    assert snapshot() == before
    for subscriber in Subscriber.objects.all():
        report = ledger.verify_chain(subscriber)
        assert report.valid, report.problem
    assert Suppression.objects.filter(reason=SuppressionReason.ERASED).exists()


def test_the_restored_newsletter_keeps_working(newsletter, tmp_path):
    text = export()
    empty_the_database()
    restore(tmp_path, text)
    restored = Newsletter.objects.get(slug="proj")
    newcomer = subscribe(restored, [restored.lists.get(slug="news")], "new@example.org")
    assert newcomer.pk > Subscriber.objects.exclude(pk=newcomer.pk).latest("pk").pk
    assert ledger.verify_chain(newcomer).valid


def test_restoring_over_an_existing_newsletter_changes_nothing(newsletter, tmp_path):
    before = snapshot()
    with pytest.raises(CommandError, match="already exists"):
        restore(tmp_path, export())
    assert snapshot() == before


def test_another_newsletters_contact_at_the_same_address_is_no_conflict(newsletter, tmp_path):
    text = export()
    empty_the_database()
    other = NewsletterFactory(slug="other")
    theirs = subscribe(other, [MailingListFactory(newsletter=other)], "ada@example.org", name="A")
    restore(tmp_path, text)
    assert Subscriber.objects.filter(email="ada@example.org").count() == 2
    theirs.refresh_from_db()
    assert (theirs.newsletter, theirs.name) == (other, "A")


def test_an_id_already_on_the_target_stops_the_restore_and_nothing_is_written(newsletter, tmp_path):
    text = export()
    taken = Subscriber.objects.order_by("pk").values_list("pk", flat=True)[0]
    empty_the_database()
    other = NewsletterFactory(slug="other")
    SubscriberFactory(newsletter=other, pk=taken, email="someone@example.org")
    with pytest.raises(CommandError, match="conflicts with a row already here"):
        restore(tmp_path, text)
    assert not Newsletter.objects.filter(slug="proj").exists()
    assert Subscriber.objects.count() == 1


def test_an_altered_consent_event_is_refused(newsletter, tmp_path):
    lines = export().splitlines()
    index = next(i for i, line in enumerate(lines) if '"subscribers.consentevent"' in line)
    lines[index] = lines[index].replace("Yes, Proj News.", "Anything at all.")
    empty_the_database()
    with pytest.raises(CommandError, match="was altered"):
        restore(tmp_path, "\n".join(lines))
    assert not Newsletter.objects.exists()


@pytest.mark.parametrize("text", ["", "not json\n", '{"model": "subscribers.subscriber"}\n'])
def test_a_file_that_is_not_an_export_is_refused(tmp_path, db, text):
    with pytest.raises(CommandError, match="not a Crier newsletter export"):
        restore(tmp_path, text)


def test_a_malformed_row_is_refused_and_nothing_is_written(newsletter, tmp_path):
    text = export()
    empty_the_database()
    with pytest.raises(CommandError, match="malformed"):
        restore(tmp_path, text + "{broken\n")
    assert not Newsletter.objects.exists()


def test_other_newsletters_stay_out_and_every_chain_comes_back_whole(newsletter, tmp_path):
    other = NewsletterFactory(slug="other", consent_text="Other wording")
    subscribe(other, [MailingListFactory(newsletter=other, slug="o")], "ada@example.org")
    subscribe(other, [MailingListFactory(newsletter=other, slug="p")], "stranger@example.org")
    ada = Subscriber.objects.get(email="ada@example.org", newsletter=newsletter)
    services.unsubscribe(claim=Claim(ada.pk, newsletter.pk), source=ConsentSource.ONE_CLICK)

    text = export()
    assert "stranger@example.org" not in text
    assert "Other wording" not in text
    empty_the_database()
    restore(tmp_path, text)
    assert set(Subscriber.objects.values_list("newsletter__slug", flat=True)) == {"proj"}
    for subscriber in Subscriber.objects.all():
        assert ledger.verify_chain(subscriber).valid


def test_a_chain_with_an_event_cut_out_is_refused(newsletter, tmp_path):
    lines = export().splitlines()
    ada = Subscriber.objects.get(email="ada@example.org")
    first_event = ada.consent_events.order_by("pk").first()
    lines = [line for line in lines if f'"pk": {first_event.pk},' not in line]
    empty_the_database()
    with pytest.raises(CommandError, match="the chain was cut"):
        restore(tmp_path, "\n".join(lines))
    assert not Newsletter.objects.exists()


def test_an_unknown_newsletter_is_an_error():
    with pytest.raises(CommandError, match="No newsletter"):
        call_command("export_newsletter", "nope", stdout=io.StringIO(), stderr=io.StringIO())


def test_instance_wide_suppressions_come_back_as_the_newsletters_own(newsletter, tmp_path):
    """A restore acts on the restored newsletter only: no other newsletter on the target
    stops mailing an address because of a file about this one."""
    ada = Subscriber.objects.get(email="ada@example.org")
    suppressions.suppress(
        email="ada@example.org", reason=SuppressionReason.HARD_BOUNCE, newsletter=None
    )
    suppressions.suppress(
        email="ada@example.org", reason=SuppressionReason.MANUAL, newsletter=newsletter
    )
    text = export()
    empty_the_database()
    restore(tmp_path, text)
    restored = Newsletter.objects.get(slug="proj")
    assert not Suppression.objects.filter(newsletter__isnull=True).exists()
    assert suppressions.reasons(ada.email, restored) == {SuppressionReason.HARD_BOUNCE}
    assert suppressions.reasons("grace@example.org", restored) == {SuppressionReason.UNSUBSCRIBED}
    assert Suppression.objects.filter(reason=SuppressionReason.ERASED).count() == 1
