"""Logging in: the rate limit, and two-factor enrolment then login with computed codes."""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def totp_code(secret: str, *, at: float) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written here independently of the library."""
    key = base64.b32decode(secret.replace(" ", ""))
    digest = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def log_in(client, username, password=PASSWORD, **extra):
    return client.post(
        reverse("dashboard:login"), {"username": username, "password": password}, **extra
    )


def test_login_is_refused_after_too_many_attempts_for_one_username(client, settings):
    settings.LOGIN_ATTEMPTS_PER_USERNAME = 3
    UserFactory(username="ada")
    for _ in range(3):
        assert log_in(client, "ada", "wrong").status_code == 200
    response = log_in(client, "ADA")  # the right password, but too late
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_is_refused_after_too_many_attempts_from_one_address(client, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 3
    UserFactory(username="ada")
    for name in ("a", "b", "c"):
        log_in(client, name, "wrong", REMOTE_ADDR="192.0.2.7")
    assert log_in(client, "ada", REMOTE_ADDR="192.0.2.7").status_code == 429
    assert log_in(client, "ada", REMOTE_ADDR="192.0.2.8").status_code == 302


def test_admin_login_leads_to_the_dashboard_login(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:login") + "?next=/admin/"


def enrol(client, *, at: float) -> tuple[str, list[str]]:
    """Turn two-factor on through the pages; return the typed secret and backup codes."""
    page = client.get(reverse("dashboard:account_totp_enrol")).content.decode()
    assert "<svg" in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1)
    response = client.post(
        reverse("dashboard:account_totp_enrol"), {"code": totp_code(secret, at=at)}
    )
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    return secret, codes


def test_enrolment_refuses_a_wrong_code(client):
    client.force_login(UserFactory())
    response = client.post(reverse("dashboard:account_totp_enrol"), {"code": "000000"})
    assert response.status_code == 400
    assert "does not match" in response.content.decode()
    security = client.get(reverse("dashboard:account_security")).content.decode()
    assert "Off." in security


def test_enrol_then_log_in_with_a_code_from_the_app(client, settings):
    # django-otp refuses every code for a second after a wrong one; not under test here.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = UserFactory(username="ada")
    client.force_login(user)
    secret, backup_codes = enrol(client, at=time.time())
    assert len(backup_codes) == 10
    client.logout()

    response = log_in(client, "ada")
    assert response["Location"] == reverse("dashboard:login_verify")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("dashboard:home")).status_code == 302

    wrong = client.post(reverse("dashboard:login_verify"), {"code": "123456"})
    assert wrong.status_code == 400
    # The code of the next step: the one used to enrol is never accepted twice.
    code = totp_code(secret, at=time.time() + 30)
    response = client.post(reverse("dashboard:login_verify"), {"code": code})
    assert response["Location"] == reverse("dashboard:home")
    assert client.get(reverse("dashboard:home")).status_code == 200
    assert (
        "verified with a code" in client.get(reverse("dashboard:account_security")).content.decode()
    )


def test_a_backup_code_works_once(client):
    user = UserFactory(username="ada")
    client.force_login(user)
    _, backup_codes = enrol(client, at=time.time())
    client.logout()
    log_in(client, "ada")
    response = client.post(
        reverse("dashboard:login_verify"), {"code": backup_codes[0]}, follow=True
    )
    assert "You used a backup code; 9 left." in response.content.decode()
    client.logout()
    log_in(client, "ada")
    again = client.post(reverse("dashboard:login_verify"), {"code": backup_codes[0]})
    assert again.status_code == 400


def test_the_code_step_needs_the_password_step_first(client):
    response = client.post(reverse("dashboard:login_verify"), {"code": "123456"})
    assert response["Location"] == reverse("dashboard:login")


def test_codes_are_rate_limited_too(client, settings):
    settings.LOGIN_ATTEMPTS_PER_USERNAME = 4
    user = UserFactory(username="ada")
    client.force_login(user)
    enrol(client, at=time.time())
    client.logout()
    log_in(client, "ada")  # one attempt
    for _ in range(3):
        client.post(reverse("dashboard:login_verify"), {"code": "000000"})
    assert client.post(reverse("dashboard:login_verify"), {"code": "000000"}).status_code == 429


def test_turning_two_factor_off_needs_the_password(client):
    user = UserFactory(username="ada")
    client.force_login(user)
    enrol(client, at=time.time())
    off = reverse("dashboard:account_two_factor_off")
    client.post(off, {"password": "wrong"})
    assert "On." in client.get(reverse("dashboard:account_security")).content.decode()
    client.post(off, {"password": PASSWORD})
    assert "Off." in client.get(reverse("dashboard:account_security")).content.decode()
    client.logout()
    assert log_in(client, "ada")["Location"] == reverse("dashboard:home")


def test_the_session_cookie_is_http_only_and_same_site(client):
    UserFactory(username="ada")
    cookie = log_in(client, "ada").cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
