import pytest

from audiences import services as audiences
from automations import services
from automations.models import Automation, Enrolment, EnrolmentState, Trigger
from automations.services import StepSpec
from campaigns.models import Campaign
from subscribers.models import Subscriber
from tests.api.conftest import make_api
from tests.factories import NewsletterFactory

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
