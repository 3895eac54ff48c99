import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from api.models import ApiToken, hash_token
from api.services import issue_token, revoke_token
from newsletter.models import Membership, Role
from tests.api.conftest import ApiClient, make_api
from tests.factories import (
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_no_token_or_a_wrong_one_gets_401(news):
    assert Client().get("/api/v1/lists/").status_code == 401
    assert ApiClient("crier_nope").get("/api/v1/lists/").status_code == 401


def test_token_is_stored_hashed_and_shown_once(newsletter):
    user = MembershipFactory(newsletter=newsletter, role=Role.OWNER).user
    token, raw = issue_token(user=user, newsletter=newsletter, role=Role.OWNER)
    assert raw.startswith("crier_") and len(raw) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hash_token(raw)
    assert raw not in {stored.digest, stored.prefix}
    assert raw.startswith(stored.prefix)


def test_a_token_never_carries_more_than_the_users_role(newsletter):
    user = MembershipFactory(newsletter=newsletter, role=Role.VIEWER).user
    token, _ = issue_token(user=user, newsletter=newsletter, role=Role.OWNER)
    assert token.role == Role.VIEWER


def test_demoting_the_user_weakens_their_tokens_at_once(newsletter, news, redis_client):
    api = make_api(newsletter, role=Role.EDITOR)
    Membership.objects.filter(newsletter=newsletter).update(role=Role.VIEWER)
    response = api.post("/api/v1/lists/", {"slug": "x", "name": "X"})
    assert response.status_code == 403
    assert "viewer" in response.json()["detail"]
    Membership.objects.filter(newsletter=newsletter).delete()
    assert api.get("/api/v1/lists/").status_code == 401


def test_revoked_tokens_stop_working_and_last_use_is_recorded(newsletter, news, redis_client):
    user = MembershipFactory(newsletter=newsletter).user
    token, raw = issue_token(user=user, newsletter=newsletter)
    assert ApiClient(raw).get("/api/v1/lists/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    revoke_token(token=token)
    assert ApiClient(raw).get("/api/v1/lists/").status_code == 401


def test_a_token_sees_only_its_newsletter(newsletter, news, api):
    other = NewsletterFactory()
    MailingListFactory(newsletter=other, slug="secret")
    slugs = [item["slug"] for item in api.get("/api/v1/lists/").json()["items"]]
    assert slugs == ["news"]


def test_rate_limit_answers_429(newsletter, news, api, settings):
    settings.API_REQUESTS_PER_TOKEN_PER_MINUTE = 2
    assert api.get("/api/v1/lists/").status_code == 200
    assert api.get("/api/v1/lists/").status_code == 200
    response = api.get("/api/v1/lists/")
    assert response.status_code == 429


def test_api_token_command_prints_a_working_token(newsletter, news, capsys, redis_client):
    MembershipFactory(newsletter=newsletter, user__username="ada", role=Role.EDITOR)
    call_command("api_token", "ada", "proj")
    raw = capsys.readouterr().out.strip()
    assert ApiToken.objects.get(digest=hash_token(raw)).role == Role.EDITOR
    assert ApiClient(raw).get("/api/v1/lists/").status_code == 200


def test_api_token_command_refuses_a_non_member(newsletter):
    UserFactory(username="stranger")
    with pytest.raises(CommandError, match="not a member"):
        call_command("api_token", "stranger", "proj")


def test_admin_shows_a_new_token_once(newsletter, admin_client):
    user = MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user
    response = admin_client.post(
        "/admin/api/apitoken/add/",
        {"user": user.pk, "newsletter": newsletter.pk, "name": "ci", "role": Role.EDITOR},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "crier_" in str(m)]
    raw = shown[0].split(": ")[-1]
    assert ApiToken.objects.get(name="ci").digest == hash_token(raw)


def test_admin_cannot_raise_an_existing_tokens_role(newsletter, admin_client):
    user = MembershipFactory(newsletter=newsletter, role=Role.VIEWER).user
    token, _ = issue_token(user=user, newsletter=newsletter, role=Role.VIEWER)
    admin_client.post(
        f"/admin/api/apitoken/{token.pk}/change/",
        {"user": user.pk, "newsletter": newsletter.pk, "name": "x", "role": Role.OWNER},
    )
    token.refresh_from_db()
    assert token.role == Role.VIEWER


def test_admin_revoke_action(newsletter, admin_client):
    user = MembershipFactory(newsletter=newsletter).user
    token, _ = issue_token(user=user, newsletter=newsletter)
    admin_client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
