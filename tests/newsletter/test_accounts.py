"""Accounts without the admin: made without a password, reset by a mailed one-time link."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from delivery.models import OutboxMessage
from newsletter import accounts, emails
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_reset_reaches_every_active_account_of_the_address_even_without_a_password(
    django_capture_on_commit_callbacks,
):
    UserFactory(username="ada", email="ada@example.org")
    accounts.account_create(username="ada2", email="ADA@example.org")
    UserFactory(username="gone", email="ada@example.org", is_active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        assert accounts.password_reset_request(email=" Ada@Example.org ", language="en") == 2
    assert len(callbacks) == 2


def test_a_reset_for_an_unknown_address_queues_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert accounts.password_reset_request(email="nobody@example.org", language="en") == 0
    assert callbacks == []


def test_an_address_gets_a_few_reset_mails_an_hour_at_most():
    UserFactory(username="ada", email="ada@example.org")
    for _ in range(accounts.RESET_MAILS_PER_ADDRESS_PER_HOUR):
        assert accounts.password_reset_request(email="ada@example.org", language="en") == 1
    assert accounts.password_reset_request(email="ADA@example.org", language="en") == 0


def test_the_reset_mail_carries_a_link_that_sets_the_password_once(client):
    ada = UserFactory(username="ada", email="ada@example.org")
    assert emails.send_password_reset(user_id=ada.pk, language="fr")
    mail = OutboxMessage.objects.get()
    assert mail.recipients == ["ada@example.org"]
    assert 'lang="fr"' in mail.body("html")
    assert mail.body("plain").startswith("Bonjour,")
    assert "« ada »" in mail.body("plain")
    link = re.search(r"https?://\S+/dashboard/password/set/\S+/", mail.body("plain")).group(0)

    path = link.split("://", 1)[1].split("/", 1)[1]
    form_page = client.get(f"/{path}", follow=True)
    assert form_page.context["validlink"]
    new_password = "a brand new passphrase"
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.check_password(new_password)
    assert not client.get(f"/{path}", follow=True).context["validlink"]


def test_no_reset_mail_for_an_account_without_an_address_or_deactivated():
    no_address = UserFactory(username="ada", email="")
    gone = UserFactory(username="bob", is_active=False)
    assert not emails.send_password_reset(user_id=no_address.pk, language="en")
    assert not emails.send_password_reset(user_id=gone.pk, language="en")
    assert not OutboxMessage.objects.exists()


def test_an_account_is_created_without_a_password():
    user = accounts.account_create(username="ada", email="Ada@EXAMPLE.org")
    assert user.email == "Ada@example.org"
    assert not user.has_usable_password()
    assert accounts.password_link(user).startswith("http")


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("", "", "username"),
        ("has space", "", "username"),
        ("Taken", "", "username"),
        ("ada", "not-an-address", "email"),
    ],
)
def test_a_bad_account_is_refused_and_nothing_is_created(username, email, field):
    UserFactory(username="taken")
    with pytest.raises(ValidationError) as error:
        accounts.account_create(username=username, email=email)
    assert field in error.value.message_dict
    assert get_user_model().objects.count() == 1
