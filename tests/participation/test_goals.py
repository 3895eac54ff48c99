"""Support goals: progress from editors, the API or a signed webhook (each event once), a
progress bar in campaigns and on the page, a call to action counted under the policy."""

import json
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.rendering import personalize
from campaigns.services import campaign_render, sample_recipient
from participation import tokens
from participation.models import Goal, GoalUpdate
from participation.services import goals
from tests.factories import CampaignFactory, MembershipFactory
from webhooks import signing

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def goal(newsletter) -> Goal:
    return goals.goal_create(
        newsletter=newsletter,
        title="Fund the 2027 sprint",
        slug="sprint",
        kind="money",
        currency="eur",
        target="5000",
        cta_label="Donate",
        cta_url="https://donate.example.org/demo",
    )


def test_a_goal_is_checked_by_field(newsletter):
    for fields, field in (
        ({"kind": "money", "currency": ""}, "currency"),
        ({"target": "0"}, "target"),
        ({"target": "12.345"}, "amount"),
        ({"cta_url": "javascript:alert(1)"}, "cta_url"),
        ({"kind": "gold"}, "kind"),
    ):
        values = {
            "title": "T",
            "kind": "volunteers",
            "target": "10",
            "cta_label": "Join",
            "cta_url": "https://example.org/",
            **fields,
        }
        with pytest.raises(ValidationError) as error:
            goals.goal_create(newsletter=newsletter, **values)
        assert field in error.value.message_dict, fields
    assert not Goal.objects.exists()


def test_progress_adds_sets_and_never_goes_below_zero(goal):
    goals.goal_progress(goal=goal, kind="add", amount="1250", source="dashboard")
    goals.goal_progress(goal=goal, kind="add", amount="-250.50", source="dashboard", note="refund")
    goal.refresh_from_db()
    assert goal.current == Decimal("999.50") and goal.percent == 19
    with pytest.raises(ValidationError, match="below zero"):
        goals.goal_progress(goal=goal, kind="add", amount="-1000", source="dashboard")
    goals.goal_progress(goal=goal, kind="set", amount="6000", source="dashboard")
    goal.refresh_from_db()
    assert goal.current == 6000 and goal.percent == 100
    assert list(GoalUpdate.objects.values_list("total", flat=True)) == [
        6000,
        Decimal("999.50"),
        1250,
    ]


def test_an_event_id_is_applied_once(goal):
    assert goals.goal_progress(goal=goal, kind="add", amount=25, source="api", external_id="e1")
    assert (
        goals.goal_progress(goal=goal, kind="add", amount=25, source="api", external_id="e1")
        is None
    )
    goal.refresh_from_db()
    assert goal.current == 25 and GoalUpdate.objects.count() == 1


def post_webhook(client, goal, payload, *, secret=None, timestamp=None):
    body = json.dumps(payload).encode()
    secret = secret or tokens.goal_webhook_secret(goal.webhook_key, goal.webhook_version)
    header = signing.sign(secret=secret, body=body, timestamp=timestamp)
    return client.post(
        f"/webhooks/participation/goals/{goal.webhook_key}/",
        body,
        content_type="application/json",
        HTTP_CRIER_SIGNATURE=header,
    )


def test_a_signed_webhook_reports_progress_once_per_event(client, goal):
    first = post_webhook(client, goal, {"id": "don-1", "amount": "25.00", "note": "Thanks!"})
    assert first.status_code == 201 and first.json()["total"] == "25.00"
    again = post_webhook(client, goal, {"id": "don-1", "amount": "25.00"})
    assert again.status_code == 200 and again.json() == {
        "detail": "Already applied.",
        "total": "25.00",
    }
    total = post_webhook(client, goal, {"id": "don-2", "amount": "100", "mode": "set"})
    assert total.json()["total"] == "100.00"
    update = GoalUpdate.objects.get(external_id="don-1")
    assert (update.source, update.note) == ("webhook", "Thanks!")


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong secret", 401),
        ("too old", 401),
        ("no id", 422),
        ("not a number", 422),
        ("unknown", 404),
    ],
)
def test_a_webhook_that_cannot_be_trusted_or_read_changes_nothing(client, goal, case, status):
    payload = {"id": "don-1", "amount": "25"}
    options = {}
    if case == "wrong secret":
        options["secret"] = "whsec_guess"
    elif case == "too old":
        options["timestamp"] = int(time.time()) - 3600
    elif case == "no id":
        payload.pop("id")
    elif case == "not a number":
        payload["amount"] = "lots"
    elif case == "unknown":
        goal.webhook_key = "nothing-has-this-key"
    response = post_webhook(client, goal, payload, **options)
    assert response.status_code == status
    assert not GoalUpdate.objects.exists()


def test_a_new_secret_revokes_the_old_one(client, goal):
    old = tokens.goal_webhook_secret(goal.webhook_key, goal.webhook_version)
    goals.goal_webhook_rotate(goal=goal)
    assert post_webhook(client, goal, {"id": "x", "amount": 1}, secret=old).status_code == 401
    assert post_webhook(client, goal, {"id": "x", "amount": 1}).status_code == 201


def test_the_call_to_action_counts_people_under_the_policy(client, newsletter, goal):
    response = client.get("/n/demo/goals/sprint/support/", HTTP_USER_AGENT=FIREFOX)
    assert (response.status_code, response["Location"]) == (302, "https://donate.example.org/demo")
    client.get(
        "/n/demo/goals/sprint/support/",
        HTTP_USER_AGENT="Mozilla/5.0 (compatible; Barracuda Sentinel)",
    )
    goal.refresh_from_db()
    assert goal.cta_clicks == 1  # the scanner was not counted
    newsletter.tracking_policy = "off"
    newsletter.save()
    assert client.get("/n/demo/goals/sprint/support/", HTTP_USER_AGENT=FIREFOX).status_code == 302
    goal.refresh_from_db()
    assert goal.cta_clicks == 1


def test_the_block_shows_the_bar_and_a_counted_button(newsletter, goal):
    goals.goal_progress(goal=goal, kind="add", amount="1250", source="dashboard")
    campaign = CampaignFactory(newsletter=newsletter, body="Help us:\n\n{{ goal.sprint }}\n")
    result = campaign_render(campaign=campaign)
    assert result.ok, result.problems
    html = personalize(result, sample_recipient(newsletter=newsletter)).html
    assert "1,250 EUR of 5,000 EUR (25 %)" in html
    assert "width:25%" in html.replace(" ", "")
    assert 'href="https://news.example.org/n/demo/goals/sprint/support/"' in html
    # Progress changes re-render a draft (the block is part of the render's digest).
    goals.goal_progress(goal=goal, kind="add", amount="1250", source="dashboard")
    campaign.refresh_from_db()
    html = personalize(
        campaign_render(campaign=campaign), sample_recipient(newsletter=newsletter)
    ).html
    assert "2,500 EUR of 5,000 EUR (50 %)" in html


def test_the_public_page_and_the_dashboard(client, newsletter, goal):
    page = client.get("/n/demo/goals/sprint/").content.decode()
    assert "Fund the 2027 sprint" in page and '<progress max="100" value="0"' in page
    assert 'href="/n/demo/goals/sprint/support/"' in page
    viewer = MembershipFactory(newsletter=newsletter, role="viewer").user
    client.force_login(viewer)
    dashboard = client.get(f"/dashboard/n/demo/participation/goals/{goal.pk}/").content.decode()
    assert "whsec_" not in dashboard  # the signing secret is for editors
    client.force_login(MembershipFactory(newsletter=newsletter, role="editor").user)
    response = client.post(
        f"/dashboard/n/demo/participation/goals/{goal.pk}/progress/",
        {"kind": "add", "amount": "abc"},
    )
    assert response.status_code == 422 and "Give a number" in response.content.decode()
    client.post(
        f"/dashboard/n/demo/participation/goals/{goal.pk}/progress/",
        {"kind": "add", "amount": "40", "note": "Bank transfer"},
    )
    goal.refresh_from_db()
    assert goal.current == 40
    editor_page = client.get(f"/dashboard/n/demo/participation/goals/{goal.pk}/").content.decode()
    assert tokens.goal_webhook_secret(goal.webhook_key, goal.webhook_version) in editor_page
