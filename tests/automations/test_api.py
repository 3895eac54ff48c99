from datetime import UTC, datetime

import pytest

from automations import services
from automations.models import Automation, Enrolment
from campaigns.models import Campaign
from delivery.models import Delivery
from newsletter.models import Role
from tests.api.conftest import make_api
from tests.factories import MailingListFactory, NewsletterFactory

from .conftest import confirmed

pytestmark = pytest.mark.django_db

WELCOME = {
    "name": "Welcome",
    "lists": ["newcomers"],
    "trigger": "list_confirmed",
    "steps": [
        {"kind": "send", "subject": "Welcome aboard", "body": "Hello!"},
        {"kind": "wait", "delay_seconds": 172800},
        {"kind": "wait_until", "weekday": 0, "hour": 9, "time_zone": "subscriber"},
        {"kind": "send", "subject": "How to contribute", "body": "Like this."},
    ],
}


@pytest.fixture
def api(newsletter, redis_client):
    return make_api(newsletter)


def test_build_start_enrol_and_read_counts(api, newsletter, newcomers):
    created = api.post("/api/v1/automations/", WELCOME)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft"
    assert [step["kind"] for step in body["steps"]] == ["send", "wait", "wait_until", "send"]
    automation_id = body["id"]

    started = api.post(f"/api/v1/automations/{automation_id}/activate/")
    assert started.json()["status"] == "active"

    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    Enrolment.objects.all().delete()  # the welcome trigger enrolled her; the API does it now
    enrolled = api.post(f"/api/v1/automations/{automation_id}/enrol/", {"email": "ADA@example.org"})
    assert enrolled.status_code == 201, enrolled.json()
    assert enrolled.json()["subscriber"] == ada.pk
    again = api.post(f"/api/v1/automations/{automation_id}/enrol/", {"subscriber": ada.pk})
    assert again.status_code == 200
    assert again.json()["created"] is False

    services.enrolments_advance(now=datetime(2030, 1, 1, tzinfo=UTC))
    detail = api.get(f"/api/v1/automations/{automation_id}/").json()
    assert detail["report"] == {
        "enrolled": 1,
        "in_progress": 1,
        "done": 0,
        "exited": 0,
        "unreadable_dates": 0,
    }
    assert [(step["here"], step.get("queued")) for step in detail["steps"]] == [
        (0, 1),
        (1, None),
        (0, None),
        (0, 0),
    ]
    paused = api.post(f"/api/v1/automations/{automation_id}/pause/")
    assert paused.json()["status"] == "paused"
    assert api.post(f"/api/v1/automations/{automation_id}/pause/").status_code == 409
    assert api.post(f"/api/v1/automations/{automation_id}/resume/").json()["status"] == "active"


def test_step_emails_are_not_listed_as_campaigns(api, newsletter, newcomers):
    automation_id = api.post("/api/v1/automations/", WELCOME).json()["id"]
    step_campaign = Campaign.objects.first()
    assert api.get("/api/v1/campaigns/").json()["items"] == []
    assert api.get(f"/api/v1/campaigns/{step_campaign.pk}/").status_code == 404
    assert api.get("/api/v1/automations/").json() == [
        {
            "id": automation_id,
            "name": "Welcome",
            "status": "draft",
            "trigger": "list_confirmed",
            "enrolled": 0,
        }
    ]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {"steps": [{"kind": "wait", "delay_seconds": 60, "colour": "red"}]},
            {"steps.0.colour": ["Extra inputs are not permitted"]},
        ),
        (
            {"steps": [{"kind": "wait", "subject": "Hi", "delay_seconds": 60}]},
            {"steps.0.subject": ["Unknown field for this kind of step."]},
        ),
        (
            {"steps": [{"kind": "wait_until", "hour": 24}]},
            {"steps.0.hour": ["Input should be less than or equal to 23"]},
        ),
        (
            {"steps": [{"kind": "send", "subject": "Hi", "body": "Hello {{ subscriber.nam }"}]},
            "steps.0.body",
        ),
        ({"trigger": "anniversary", "trigger_field": "birthday"}, "trigger_field"),
        ({"lists": ["nope"]}, {"lists": ["No such list in this newsletter: nope."]}),
    ],
)
def test_bad_input_names_the_part_and_saves_nothing(api, newcomers, change, errors):
    response = api.post("/api/v1/automations/", {**WELCOME, **change})
    assert response.status_code == 422
    if isinstance(errors, str):
        assert list(response.json()["errors"]) == [errors]
    else:
        assert response.json()["errors"] == errors
    assert not Automation.objects.exists()
    assert not Campaign.objects.exists()


def test_an_empty_automation_does_not_start(api, newcomers):
    automation_id = api.post("/api/v1/automations/", {**WELCOME, "steps": []}).json()["id"]
    response = api.post(f"/api/v1/automations/{automation_id}/activate/")
    assert response.status_code == 422
    assert response.json()["errors"] == {"steps": ["An automation needs at least one step."]}


def test_enrol_with_a_bad_date_or_an_unconfirmed_person(api, newsletter, newcomers):
    automation_id = api.post("/api/v1/automations/", WELCOME).json()["id"]
    api.post(f"/api/v1/automations/{automation_id}/activate/")
    confirmed(newsletter, [MailingListFactory(newsletter=newsletter)], "bob@example.org")
    url = f"/api/v1/automations/{automation_id}/enrol/"
    bad_date = api.post(url, {"email": "bob@example.org", "start_at": "2026-02-30T09:00"})
    assert bad_date.status_code == 422
    assert list(bad_date.json()["errors"]) == ["start_at"]
    not_on_list = api.post(url, {"email": "bob@example.org"})
    assert not_on_list.status_code == 422
    assert not_on_list.json()["errors"] == {
        "subscriber": ["Not confirmed on any of this automation's lists."]
    }
    assert api.post(url, {"email": "nobody@example.org"}).json()["errors"] == {
        "email": ["No such subscriber in this newsletter."]
    }
    assert not Enrolment.objects.exists()


def test_another_newsletters_token_sees_nothing(api, newsletter, newcomers):
    automation_id = api.post("/api/v1/automations/", WELCOME).json()["id"]
    other = make_api(NewsletterFactory(slug="other"), username="other")
    assert other.get(f"/api/v1/automations/{automation_id}/").status_code == 404
    assert other.post(f"/api/v1/automations/{automation_id}/pause/").status_code == 404
    assert other.get("/api/v1/automations/").json() == []


def test_viewers_read_but_do_not_change(newsletter, newcomers, redis_client):
    viewer = make_api(newsletter, role=Role.VIEWER, username="viewer")
    assert viewer.post("/api/v1/automations/", WELCOME).status_code == 403
    assert viewer.get("/api/v1/automations/").status_code == 200


def test_editing_a_step_while_it_runs(api, newsletter, newcomers):
    body = api.post("/api/v1/automations/", WELCOME).json()
    api.post(f"/api/v1/automations/{body['id']}/activate/")
    step = body["steps"][0]["id"]
    changed = api.patch(
        f"/api/v1/automations/{body['id']}/steps/{step}/",
        {"kind": "send", "subject": "Welcome, friend", "body": "Hi!"},
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["steps"][0]["subject"] == "Welcome, friend"
    removed = api.delete(f"/api/v1/automations/{body['id']}/steps/{body['steps'][1]['id']}/")
    assert [step["removed"] for step in removed.json()["steps"]] == [False, False, False, True]
    assert Delivery.objects.count() == 0
