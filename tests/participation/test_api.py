"""Participation in the API: the same services as the dashboard, the same rules."""

import pytest
from django.test import Client

from newsletter.models import Role
from participation.models import Consultation, Goal, Submission, SubmissionStatus
from participation.services import calls
from tests.api.conftest import make_api
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(newsletter, redis_client):
    return make_api(newsletter)


CONSULTATION = {
    "title": "Roadmap 2027",
    "questions": [
        {"kind": "single", "prompt": "Which feature next?", "options": ["Plugins", "Speed"]},
        {"kind": "scale", "prompt": "How happy are you?"},
    ],
}


def test_the_schema_lists_the_participation_endpoints(newsletter):
    paths = set(Client().get("/api/v1/openapi.json").json()["paths"])
    assert {
        "/api/v1/consultations/",
        "/api/v1/consultations/{consultation_id}/",
        "/api/v1/consultations/{consultation_id}/results/",
        "/api/v1/consultations/{consultation_id}/results.csv",
        "/api/v1/calls/",
        "/api/v1/calls/{call_id}/",
        "/api/v1/calls/{call_id}/submissions/",
        "/api/v1/calls/{call_id}/submissions/{submission_id}/moderate/",
        "/api/v1/calls/{call_id}/insert/",
        "/api/v1/goals/",
        "/api/v1/goals/{goal_id}/",
        "/api/v1/goals/{goal_id}/progress/",
        "/api/v1/participation/referrals/",
        "/api/v1/participation/settings/",
        "/api/v1/participation/transparency/",
    } <= paths


def test_consultations_are_created_read_closed_and_their_results_read(api, newsletter):
    created = api.post("/api/v1/consultations/", CONSULTATION)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["block_tag"] == "{{ consultation.roadmap-2027 }}"
    assert body["public_url"] == "https://news.example.org/n/demo/consultations/roadmap-2027/"
    assert [len(question["choices"]) for question in body["questions"]] == [2, 5]
    consultation_id = body["id"]
    assert api.get("/api/v1/consultations/").json()["items"][0]["id"] == consultation_id
    closed = api.patch(f"/api/v1/consultations/{consultation_id}/", {"closed": True})
    assert closed.json()["is_open"] is False
    results = api.get(f"/api/v1/consultations/{consultation_id}/results/").json()
    assert results["questions"][0]["choices"][0] == {
        "id": body["questions"][0]["choices"][0]["id"],
        "label": "Plugins",
        "count": 0,
        "percent": 0.0,
    }
    csv = api.get(f"/api/v1/consultations/{consultation_id}/results.csv")
    assert csv["Content-Type"] == "text/csv" and b"Which feature next?" in csv.content


def test_bad_consultations_are_refused_by_field_and_nothing_is_kept(api):
    one_option = {
        "title": "T",
        "questions": [{"kind": "single", "prompt": "P", "options": ["only"]}],
    }
    response = api.post("/api/v1/consultations/", one_option)
    assert response.status_code == 422 and "options" in response.json()["errors"]
    response = api.post("/api/v1/consultations/", {"title": "T", "questions": []})
    assert response.status_code == 422 and "questions" in response.json()["errors"]
    assert not Consultation.objects.exists()


def test_a_viewer_token_reads_but_does_not_write(newsletter, redis_client):
    viewer = make_api(newsletter, role=Role.VIEWER, username="watcher")
    assert viewer.get("/api/v1/consultations/").status_code == 200
    assert viewer.post("/api/v1/consultations/", CONSULTATION).status_code == 403
    assert viewer.post("/api/v1/goals/", {}).status_code in (403, 422)
    assert (
        viewer.patch("/api/v1/participation/settings/", {"transparency_page": True}).status_code
        == 403
    )


def test_calls_are_moderated_and_inserted_through_the_api(api, newsletter):
    created = api.post(
        "/api/v1/calls/", {"title": "Talks for our meetup", "description": "Propose a talk."}
    )
    assert created.status_code == 201
    call_id = created.json()["id"]
    call = newsletter.calls.get(pk=call_id)
    submission = calls.submission_create(
        call=call, title="Fast Demo", text="How we made it fast.", credit_name="Grace", consent=True
    )
    listed = api.get(f"/api/v1/calls/{call_id}/submissions/", {"status": "submitted"}).json()
    assert [item["title"] for item in listed["items"]] == ["Fast Demo"]
    url = f"/api/v1/calls/{call_id}/submissions/{submission.pk}/moderate/"
    refused = api.post(url, {"action": "changes", "note": "Shorter?"})
    assert refused.status_code == 422 and "note" in refused.json()["errors"]  # no address
    assert api.post(url, {"action": "accept"}).json()["status"] == SubmissionStatus.ACCEPTED
    assert api.post(url, {"action": "accept"}).status_code == 409
    draft = CampaignFactory(newsletter=newsletter)
    inserted = api.post(f"/api/v1/calls/{call_id}/insert/", {"campaign": draft.pk})
    assert inserted.json() == {"inserted": 1, "campaign": draft.pk}
    assert Submission.objects.get().campaign_id == draft.pk
    assert api.post(f"/api/v1/calls/{call_id}/insert/", {"campaign": 999999}).status_code == 422


def test_goals_and_progress_with_an_event_id_applied_once(api):
    created = api.post(
        "/api/v1/goals/",
        {
            "title": "Volunteers for FOSDEM",
            "kind": "volunteers",
            "target": "12",
            "cta_label": "Sign up",
            "cta_url": "https://example.org/volunteer",
        },
    )
    assert created.status_code == 201, created.json()
    goal_id = created.json()["id"]
    first = api.post(f"/api/v1/goals/{goal_id}/progress/", {"amount": "3", "id": "signup-7"})
    assert first.status_code == 201 and first.json() == {
        "applied": True,
        "total": "3.00",
        "percent": 25,
    }
    again = api.post(f"/api/v1/goals/{goal_id}/progress/", {"amount": "3", "id": "signup-7"})
    assert again.status_code == 200 and again.json()["applied"] is False
    bad = api.post(f"/api/v1/goals/{goal_id}/progress/", {"amount": "-9"})
    assert bad.status_code == 422 and "amount" in bad.json()["errors"]
    assert Goal.objects.get().current == 3


def test_settings_referrals_and_transparency(newsletter, redis_client):
    owner = make_api(newsletter, role=Role.OWNER, username="boss")
    assert owner.get("/api/v1/participation/transparency/").status_code == 404
    settings = owner.patch("/api/v1/participation/settings/", {"transparency_page": True}).json()
    assert settings["transparency_page"] is True
    figures = owner.get("/api/v1/participation/transparency/").json()
    assert figures["subscribers_now"] is None and figures["issues"] == []
    referrals = owner.get("/api/v1/participation/referrals/").json()
    assert referrals["total_confirmed"] == 0 and len(referrals["months"]) == 12


def test_a_null_in_a_patch_leaves_the_field_as_it_was(newsletter, redis_client):
    owner = make_api(newsletter, role=Role.OWNER, username="boss")
    response = owner.patch(
        "/api/v1/participation/settings/", {"transparency_page": None, "referral_thanks": True}
    )
    assert response.status_code == 200
    assert response.json()["transparency_page"] is False
    goal_id = owner.post(
        "/api/v1/goals/",
        {
            "title": "Sprint",
            "kind": "money",
            "currency": "EUR",
            "target": "100",
            "cta_label": "Give",
            "cta_url": "https://example.org/give",
        },
    ).json()["id"]
    patched = owner.patch(f"/api/v1/goals/{goal_id}/", {"currency": None, "cta_url": None})
    assert patched.status_code == 200 and patched.json()["currency"] == "EUR"
    call_id = owner.post("/api/v1/calls/", {"title": "Talks", "description": "Propose."}).json()[
        "id"
    ]
    assert (
        owner.patch(f"/api/v1/calls/{call_id}/", {"require_proof_of_work": None}).status_code == 200
    )
    consultation = owner.post("/api/v1/consultations/", CONSULTATION).json()["id"]
    assert (
        owner.patch(f"/api/v1/consultations/{consultation}/", {"public_results": None}).status_code
        == 200
    )


def test_a_time_with_an_offset_postgresql_refuses_is_kept_in_utc(api):
    response = api.post(
        "/api/v1/calls/",
        {"title": "Talks", "description": "Propose.", "closes_at": "2999-10-31T18:58:17-17:10"},
    )
    assert response.status_code == 201
    assert response.json()["closes_at"] == "2999-11-01T12:08:17Z"
