"""``/api/v1/campaigns/<id>/experiment/``: the dashboard's rules, field errors, once only."""

import pytest
from django.test import Client

from api.services import issue_token
from delivery import lifecycle
from experiments.models import Experiment
from newsletter.models import Role
from tests.factories import MembershipFactory, NewsletterFactory

from .conftest import audience, send_all

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, newsletter, role=Role.EDITOR) -> None:
        membership = MembershipFactory(newsletter=newsletter, role=role)
        _, raw = issue_token(user=membership.user, newsletter=newsletter, role=role)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def __getattr__(self, method):
        call = getattr(self.client, method)
        return lambda path, data=None: call(path, data, content_type="application/json")


PAYLOAD = {
    "metric": "clicks",
    "sample_kind": "count",
    "sample_size": 4,
    "decision": "editor",
    "variants": [{"subject": "Short"}, {"body": "A **longer** story."}],
}


def test_set_up_read_and_decide_an_experiment(newsletter):
    campaign = audience(newsletter, 8)
    api = Api(newsletter)
    path = f"/api/v1/campaigns/{campaign.pk}/experiment/"
    assert api.get(path).status_code == 404

    response = api.put(path, PAYLOAD)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["state"], body["metric"]) == ("ready", "clicks")
    assert [(v["label"], v["subject"]) for v in body["variants"]] == [("A", "Short"), ("B", "")]

    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    figures = api.get(path).json()
    assert [(v["label"], v["sent"], v["count"]) for v in figures["variants"]] == [
        ("A", 2, 0),
        ("B", 2, 0),
    ]
    assert figures["aggregate"] is True
    assert figures["significant"] is False
    assert figures["verdict"].startswith("Nothing counted yet, so no variant leads")

    decided = api.post(path + "decide/", {"winner": "B"})
    assert decided.status_code == 200, decided.json()
    assert decided.json()["winner"] == "B"
    again = api.post(path + "decide/", {"winner": "A"})
    assert again.status_code == 409
    assert "winner" in again.json()["errors"]
    send_all(campaign)
    assert Experiment.objects.get().winner == "B"


def test_bad_input_is_422_by_field_and_nothing_is_saved(newsletter):
    campaign = audience(newsletter, 8)
    api = Api(newsletter)
    path = f"/api/v1/campaigns/{campaign.pk}/experiment/"
    bad = {
        **PAYLOAD,
        "sample_size": 9,
        "variants": [{"subject": "One"}, {"subject": ""}, *[{"subject": "x"}] * 3],
    }
    response = api.put(path, bad)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) >= {"sample_size", "variants", "variant_B"}
    assert not Experiment.objects.exists()


def test_viewers_read_only_and_another_newsletter_sees_nothing(newsletter):
    campaign = audience(newsletter, 8)
    path = f"/api/v1/campaigns/{campaign.pk}/experiment/"
    assert Api(newsletter, Role.VIEWER).put(path, PAYLOAD).status_code == 403
    other = Api(NewsletterFactory(slug="other"))
    assert other.put(path, PAYLOAD).status_code == 404
    assert other.get(path).status_code == 404
    assert not Experiment.objects.exists()


def test_the_experiment_is_in_the_openapi_schema(newsletter):
    paths = Api(newsletter).get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/campaigns/{campaign_id}/experiment/"]) == {"get", "put", "delete"}
    assert "/api/v1/campaigns/{campaign_id}/experiment/decide/" in paths
