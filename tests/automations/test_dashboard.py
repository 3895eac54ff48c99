import pytest
from django.urls import reverse

from automations.models import Automation, AutomationStatus, StepKind
from campaigns.models import Campaign
from newsletter.models import Role
from tests.factories import LayoutFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, newsletter):
    def login(role=Role.EDITOR):
        user = MembershipFactory(newsletter=newsletter, role=role).user
        client.force_login(user)
        return client

    return login


def url(name, newsletter, *args):
    return reverse(f"dashboard:{name}", args=[newsletter.slug, *args])


def test_an_editor_builds_and_starts_a_welcome_series(member, newsletter, newcomers):
    client = member()
    LayoutFactory(newsletter=newsletter)
    response = client.post(
        url("automation_create", newsletter),
        {"name": "Welcome", "trigger": "list_confirmed", "lists": [newcomers.pk]},
    )
    automation = Automation.objects.get()
    assert response["Location"] == url("automation_detail", newsletter, automation.pk)
    layout = newsletter.layouts.first()
    client.post(
        url("automation_step_create", newsletter, automation.pk, "send"),
        {
            "subject": "Welcome aboard",
            "layout": layout.pk,
            "body_format": "markdown",
            "body": "Hello {{ subscriber.name }}!",
        },
    )
    client.post(
        url("automation_step_create", newsletter, automation.pk, "wait"),
        {"days": 2, "hours": 0, "minutes": 0},
    )
    client.post(
        url("automation_step_create", newsletter, automation.pk, "wait_until"),
        {"weekday": "0", "hour": 9, "zone_of": "subscriber"},
    )
    assert [step.kind for step in automation.steps.all()] == [
        StepKind.SEND,
        StepKind.WAIT,
        StepKind.WAIT_UNTIL,
    ]
    client.post(url("automation_activate", newsletter, automation.pk))
    automation.refresh_from_db()
    assert automation.status == AutomationStatus.ACTIVE
    page = client.get(url("automation_detail", newsletter, automation.pk)).content.decode()
    assert "“Welcome aboard”" in page
    assert "2 days" in page
    assert "Monday, 9:00" in page
    assert "0 sent, 0 queued, 0 failed, 0 skipped" in page
    # The step's email is not one of the campaigns.
    campaigns = client.get(url("campaign_list", newsletter)).content.decode()
    assert "Welcome aboard" not in campaigns


def test_bad_input_is_shown_beside_its_field_and_saves_nothing(member, newsletter, newcomers):
    client = member()
    response = client.post(
        url("automation_create", newsletter),
        {
            "name": "Anniversary",
            "trigger": "anniversary",
            "trigger_field": "first_commit",
            "lists": [newcomers.pk],
        },
    )
    assert response.status_code == 422
    assert "Unknown field: no subscriber of this newsletter has “first_commit”." in (
        response.content.decode()
    )
    assert not Automation.objects.exists()


def test_a_step_that_does_not_render_is_refused(member, newsletter, newcomers, welcome):
    client = member()
    response = client.post(
        url("automation_step_create", newsletter, welcome.pk, "send"),
        {
            "subject": "Oops",
            "layout": newsletter.layouts.first().pk,
            "body_format": "markdown",
            "body": "Hello {{ subscriber.nam }",
        },
    )
    assert response.status_code == 422
    assert welcome.steps.count() == 3
    assert Campaign.objects.count() == 2


def test_an_empty_automation_says_why_it_cannot_start(member, newsletter, newcomers):
    client = member()
    client.post(
        url("automation_create", newsletter),
        {"name": "Empty", "trigger": "api", "lists": [newcomers.pk]},
    )
    automation = Automation.objects.get()
    response = client.post(url("automation_activate", newsletter, automation.pk), follow=True)
    assert "An automation needs at least one step." in response.content.decode()
    automation.refresh_from_db()
    assert automation.status == AutomationStatus.DRAFT


def test_pause_resume_and_edit_a_running_step(member, newsletter, welcome):
    client = member()
    client.post(url("automation_pause", newsletter, welcome.pk))
    welcome.refresh_from_db()
    assert welcome.status == AutomationStatus.PAUSED
    client.post(url("automation_resume", newsletter, welcome.pk))
    welcome.refresh_from_db()
    assert welcome.status == AutomationStatus.ACTIVE
    first = welcome.steps.get(position=1)
    form = client.get(url("automation_step_edit", newsletter, welcome.pk, first.pk))
    assert "Welcome aboard" in form.content.decode()
    client.post(
        url("automation_step_edit", newsletter, welcome.pk, first.pk),
        {
            "subject": "Welcome, friend",
            "layout": first.campaign.layout_id,
            "body_format": "markdown",
            "body": "Hi!",
        },
    )
    first.campaign.refresh_from_db()
    assert first.campaign.subject == "Welcome, friend"


def test_viewers_read_but_cannot_change(member, newsletter, welcome):
    client = member(Role.VIEWER)
    page = client.get(url("automation_detail", newsletter, welcome.pk))
    assert page.status_code == 200
    assert "Pause" not in page.content.decode()
    assert client.post(url("automation_pause", newsletter, welcome.pk)).status_code == 403


def test_a_step_email_is_not_paused_or_cancelled_on_its_own(member, newsletter, welcome):
    client = member()
    campaign = welcome.steps.get(position=1).campaign
    sending = client.get(url("campaign_sending", newsletter, campaign.pk)).content.decode()
    assert 'value="cancel"' not in sending
    response = client.post(
        url("campaign_action", newsletter, campaign.pk), {"action": "cancel"}, follow=True
    )
    assert "This email pauses and resumes with its automation." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "sending"


def test_a_step_page_names_the_step_and_its_kind_in_one_french_sentence(
    member, newsletter, welcome
):
    client = member()
    first = welcome.steps.get(position=1)
    edit = client.get(
        url("automation_step_edit", newsletter, welcome.pk, first.pk), HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    new = client.get(
        url("automation_step_create", newsletter, welcome.pk, "wait"), HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    assert "<h1>Étape 1 : envoyer un e-mail</h1>" in edit
    assert "<h1>Nouvelle étape : attendre un moment</h1>" in new
