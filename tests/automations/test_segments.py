import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audiences import services as audiences
from automations import services
from automations.models import Automation, Enrolment, EnrolmentState, Trigger
from automations.services import StepSpec
from automations.tasks import enrol_segments
from campaigns.models import Campaign
from newsletter.models import Role, TrackingPolicy
from subscribers.models import Subscriber
from tests.api.conftest import make_api
from tests.factories import MembershipFactory, NewsletterFactory

from .conftest import confirmed
from .test_services import T0, inbox, send_all

pytestmark = pytest.mark.django_db

FRENCH = {"all": [{"field": "language", "op": "eq", "value": "fr"}]}


@pytest.fixture
def french(newsletter):
    return audiences.segment_create(newsletter=newsletter, name="French speakers", rules=FRENCH)


def speaking(person: Subscriber, language: str) -> Subscriber:
    person.language = language
    person.save(update_fields=["language"])
    return person


def series(newsletter, newcomers, editor, steps, **options):
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=editor,
        name="Series",
        lists=[newcomers],
        steps=steps,
        **options,
    )
    return services.automation_activate(automation=automation)


def test_a_branch_sends_on_to_whom_the_segment_picks_and_the_others_skip(
    newsletter, newcomers, editor, french
):
    series(
        newsletter,
        newcomers,
        editor,
        [
            StepSpec(kind="branch", segment=french, skip=1),
            StepSpec(kind="send", subject="Bonjour", body="En français."),
            StepSpec(kind="send", subject="For everyone", body="Hello."),
        ],
    )
    speaking(confirmed(newsletter, [newcomers], "marie@example.org"), "fr")
    confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("marie@example.org") == ["Bonjour", "For everyone"]
    assert inbox("ada@example.org") == ["For everyone"]


def test_without_a_skip_the_others_leave(newsletter, newcomers, editor, french):
    series(
        newsletter,
        newcomers,
        editor,
        [
            StepSpec(kind="branch", segment=french),
            StepSpec(kind="send", subject="Bonjour", body="En français."),
        ],
    )
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("ada@example.org") == []
    assert Enrolment.objects.get(subscriber=ada).state == EnrolmentState.DONE


def test_people_entering_a_segment_enter_once(newsletter, newcomers, editor, french):
    series(
        newsletter,
        newcomers,
        editor,
        [StepSpec(kind="send", subject="Bienvenue", body="Salut.")],
        trigger=Trigger.SEGMENT,
        segment=french,
    )
    marie = speaking(confirmed(newsletter, [newcomers], "marie@example.org"), "fr")
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    speaking(confirmed(newsletter, [], "olga@example.org"), "fr")  # on no list of it
    assert services.segments_enrol() == 1
    speaking(ada, "fr")
    assert services.segments_enrol() == 1
    assert services.segments_enrol() == 0
    assert set(Enrolment.objects.values_list("subscriber", flat=True)) == {marie.pk, ada.pk}
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("ada@example.org") == ["Bienvenue"]


def test_segments_must_be_the_newsletters_and_are_required(newsletter, newcomers, editor):
    other = audiences.segment_create(newsletter=NewsletterFactory(), name="Theirs", rules=FRENCH)
    with pytest.raises(Exception) as caught:
        services.automation_create(
            newsletter=newsletter,
            created_by=editor,
            name="W",
            lists=[newcomers],
            trigger=Trigger.SEGMENT,
        )
    assert caught.value.message_dict == {"segment": ["Choose the segment people enter."]}
    with pytest.raises(Exception) as caught:
        services.automation_create(
            newsletter=newsletter,
            created_by=editor,
            name="W",
            lists=[newcomers],
            steps=[StepSpec(kind="branch", segment=other)],
        )
    assert caught.value.message_dict == {"steps.0.segment": ["No such segment in this newsletter."]}
    assert not Automation.objects.exists()


def test_the_api_names_a_segment_by_id(newsletter, newcomers, french, redis_client):
    api = make_api(newsletter)
    created = api.post(
        "/api/v1/automations/",
        {
            "name": "Francophones",
            "lists": ["newcomers"],
            "trigger": "segment",
            "segment": french.pk,
            "steps": [
                {"kind": "branch", "segment": french.pk, "skip": 0},
                {"kind": "send", "subject": "Salut", "body": "Bonjour."},
            ],
        },
    )
    assert created.status_code == 201, created.json()
    assert created.json()["segment"] == french.pk
    assert created.json()["steps"][0]["segment"] == french.pk
    bad = api.post(
        "/api/v1/automations/",
        {"name": "X", "lists": ["newcomers"], "trigger": "segment", "segment": 999999},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"segment": ["No such segment in this newsletter."]}
    assert Campaign.objects.count() == 1


def test_a_segment_an_automation_uses_cannot_be_deleted(newsletter, newcomers, editor, french):
    series(
        newsletter,
        newcomers,
        editor,
        [
            StepSpec(kind="branch", segment=french),
            StepSpec(kind="send", subject="Bonjour", body="En français."),
        ],
    )
    with pytest.raises(ValidationError) as caught:
        audiences.segment_delete(segment=french)
    assert caught.value.messages == ["Campaigns, feeds or automations use this segment: Series."]


def test_a_segment_broken_since_enrols_nobody_and_its_branch_picks_nobody(
    newsletter, newcomers, editor
):
    newsletter.tracking_policy = TrackingPolicy.INDIVIDUAL
    newsletter.save(update_fields=["tracking_policy"])
    unengaged = audiences.segment_create(
        newsletter=newsletter,
        name="Not opened lately",
        rules={"not": {"field": "opened", "op": "in_last_days", "value": 30}},
    )
    entering = series(
        newsletter,
        newcomers,
        editor,
        [StepSpec(kind="send", subject="Hi", body="Hello.")],
        trigger=Trigger.SEGMENT,
        segment=unengaged,
    )
    branching = services.automation_activate(
        automation=services.automation_create(
            newsletter=newsletter,
            created_by=editor,
            name="Branching",
            lists=[newcomers],
            trigger=Trigger.API,
            steps=[
                StepSpec(kind="branch", segment=unengaged, skip=1),
                StepSpec(kind="send", subject="We miss you", body="Hello."),
                StepSpec(kind="send", subject="For everyone", body="Hello."),
            ],
        )
    )
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    # The rules named engagement; the newsletter no longer tracks people one by one.
    newsletter.tracking_policy = TrackingPolicy.AGGREGATE
    newsletter.save(update_fields=["tracking_policy"])
    assert services.segments_enrol() == 0
    assert not Enrolment.objects.filter(automation=entering).exists()
    services.enrol(automation=branching, subscriber=ada, trigger=Trigger.API)
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("ada@example.org") == ["For everyone"]


def test_beat_runs_the_segment_check(newsletter, newcomers, editor, french, settings):
    assert settings.CELERY_BEAT_SCHEDULE["automations-segments"]["task"] == (
        "automations.tasks.enrol_segments"
    )
    series(
        newsletter,
        newcomers,
        editor,
        [StepSpec(kind="send", subject="Bienvenue", body="Salut.")],
        trigger=Trigger.SEGMENT,
        segment=french,
    )
    speaking(confirmed(newsletter, [newcomers], "marie@example.org"), "fr")
    assert enrol_segments(T0.isoformat()) == 1
    assert Enrolment.objects.get().enrolled_at == T0


def test_an_editor_builds_a_segment_automation_with_a_branch_in_the_dashboard(
    client, newsletter, newcomers, french
):
    client.force_login(MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user)
    audiences.segment_create(newsletter=NewsletterFactory(), name="Not ours", rules=FRENCH)
    create = reverse("dashboard:automation_create", args=[newsletter.slug])
    page = client.get(create).content.decode()
    assert "French speakers" in page and "Not ours" not in page
    missing = client.post(create, {"name": "F", "trigger": "segment", "lists": [newcomers.pk]})
    assert missing.status_code == 422
    assert "Choose the segment people enter." in missing.content.decode()
    client.post(
        create,
        {"name": "F", "trigger": "segment", "segment": french.pk, "lists": [newcomers.pk]},
    )
    automation = Automation.objects.get()
    assert automation.segment == french
    add = reverse(
        "dashboard:automation_step_create", args=[newsletter.slug, automation.pk, "branch"]
    )
    assert client.post(add, {"segment": french.pk, "skip": "2"}).status_code == 302
    step = automation.steps.get()
    assert (step.kind, step.segment, step.skip) == ("branch", french, 2)
    detail = client.get(
        reverse("dashboard:automation_detail", args=[newsletter.slug, automation.pk])
    )
    assert "the others skip 2 steps" in detail.content.decode()
    edit = reverse("dashboard:automation_step_edit", args=[newsletter.slug, automation.pk, step.pk])
    assert client.post(edit, {"segment": french.pk, "skip": ""}).status_code == 302
    step.refresh_from_db()
    assert step.skip is None
