"""A newsletter that requires two-factor login: its pages wait for a verified session."""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from newsletter.models import Role
from tests.dashboard.test_login import enrol, log_in, totp_code
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict():
    """An editor of a newsletter whose owner turned the requirement on."""
    membership = MembershipFactory(
        role=Role.EDITOR, user__username="ada", newsletter__require_two_factor=True
    )
    return membership


def redirected_to(response, name: str) -> str:
    """Assert a redirect to the named page and return the ``next`` it carries."""
    assert response.status_code == 302, response.status_code
    location = urlsplit(response["Location"])
    assert location.path == reverse(name)
    return parse_qs(location.query)["next"][0]


def test_a_member_without_an_app_sets_one_up_then_comes_back(client, strict):
    client.force_login(strict.user)
    page = reverse("dashboard:campaign_list", args=[strict.newsletter.slug])
    back = redirected_to(client.get(page), "dashboard:account_totp_enrol")
    assert back == page
    shown = client.get(reverse("dashboard:account_totp_enrol"), {"next": back})
    assert "requires two-factor login" in shown.content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', shown.content.decode())
    confirm = client.post(
        f"{reverse('dashboard:account_totp_enrol')}?next={back}",
        {"code": totp_code(secret.group(1), at=time.time())},
    )
    assert f'href="{page}"' in confirm.content.decode()  # "I saved them" leads back
    assert client.get(page).status_code == 200


def test_a_session_opened_before_the_app_was_set_up_types_a_code(client, strict, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.force_login(strict.user)
    secret, _ = enrol(client, at=time.time())
    client.logout()
    client.force_login(strict.user)  # a session that never typed a code
    page = reverse("dashboard:newsletter", args=[strict.newsletter.slug])
    back = redirected_to(client.get(page), "dashboard:account_verify")
    verify = f"{reverse('dashboard:account_verify')}?next={back}"
    assert client.post(verify, {"code": "000000"}).status_code == 400
    response = client.post(verify, {"code": totp_code(secret, at=time.time() + 30)})
    assert response["Location"] == page
    assert client.get(page).status_code == 200


def test_a_member_who_logged_in_with_a_code_goes_straight_in(client, strict, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.force_login(strict.user)
    secret, _ = enrol(client, at=time.time())
    client.logout()
    log_in(client, "ada")
    client.post(reverse("dashboard:login_verify"), {"code": totp_code(secret, at=time.time() + 30)})
    page = reverse("dashboard:newsletter", args=[strict.newsletter.slug])
    assert client.get(page).status_code == 200


def test_a_change_waits_for_the_code_and_comes_back_to_the_home(client, strict):
    client.force_login(strict.user)
    url = reverse("dashboard:campaign_create", args=[strict.newsletter.slug])
    back = redirected_to(client.post(url, {"name": "Sneaky"}), "dashboard:account_totp_enrol")
    assert back == reverse("dashboard:newsletter", args=[strict.newsletter.slug])
    assert not strict.newsletter.campaigns.exists()


def test_htmx_requests_are_redirected_by_header(client, strict):
    client.force_login(strict.user)
    url = reverse("dashboard:newsletter", args=[strict.newsletter.slug])
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("dashboard:account_totp_enrol"))


def test_non_members_still_get_404_and_other_newsletters_are_open(client, strict):
    outsider = UserFactory()
    client.force_login(outsider)
    assert (
        client.get(reverse("dashboard:newsletter", args=[strict.newsletter.slug])).status_code
        == 404
    )
    relaxed = MembershipFactory(user=strict.user, role=Role.VIEWER)
    client.force_login(strict.user)
    assert (
        client.get(reverse("dashboard:newsletter", args=[relaxed.newsletter.slug])).status_code
        == 200
    )
