"""``create_newsletter`` and ``add_member``: automation's way to set up an instance."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from campaigns.services import campaign_sendability
from delivery.lifecycle import CampaignStateError, campaign_start
from newsletter.models import Membership, Newsletter, Role
from tests.factories import CampaignFactory, MembershipFactory, NewsletterFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_create_newsletter_with_an_owner_and_everything_it_needs(capsys):
    olga = UserFactory(username="olga")
    call_command(
        "create_newsletter",
        "kernel",
        "--name",
        "Kernel News",
        "--owner",
        "olga",
        "--from-email",
        "news@kernel.example.org",
        "--postal-address",
        "1 Example Street, Paris",
        "--timezone",
        "Europe/Paris",
        "--language",
        "fr",
    )
    kernel = Newsletter.objects.get(slug="kernel")
    assert (kernel.name, kernel.sender, kernel.timezone, kernel.language) == (
        "Kernel News",
        "Kernel News <news@kernel.example.org>",
        "Europe/Paris",
        "fr",
    )
    assert Membership.objects.get(newsletter=kernel).user == olga
    assert Membership.objects.get(newsletter=kernel).role == Role.OWNER
    assert kernel.layouts.count() == 3
    assert "Created Kernel News (/dashboard/n/kernel/)" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_newsletter_made_with_the_contract_command_alone_cannot_send_yet(capsys, settings):
    settings.DEFAULT_FROM_EMAIL = "Crier <crier@example.org>"
    call_command("create_newsletter", "kernel", "--name", "Kernel News")
    output = capsys.readouterr().out
    assert "It has no owner yet: python manage.py add_member kernel USERNAME --role owner" in output
    assert "no postal address" in output
    kernel = Newsletter.objects.get(slug="kernel")
    assert kernel.sender == "Kernel News <crier@example.org>"
    assert not kernel.membership_set.exists()
    campaign = CampaignFactory(newsletter=kernel)
    sendability = campaign_sendability(campaign=campaign)
    assert not sendability.ok
    assert any("postal address" in reason for reason in sendability.reasons)
    with pytest.raises(CampaignStateError, match="postal address"):
        campaign_start(campaign=campaign)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["taken", "--name", "Again"], "slug 'taken' exists already"),
        (["kernel", "--name", "Kernel", "--owner", "nobody"], "No active account"),
        (["kernel", "--name", "Kernel", "--timezone", "Mars/Olympus"], "timezone:"),
        (["kernel", "--name", "Kernel", "--from-email", "nope"], "from_email:"),
        (["not a slug", "--name", "Kernel"], "slug:"),
        (["kernel", "--name", "Kernel", "--language", "xx"], "language:"),
    ],
)
def test_create_newsletter_refuses_bad_input_and_writes_nothing(arguments, message):
    NewsletterFactory(slug="taken")
    with pytest.raises(CommandError, match=message):
        call_command("create_newsletter", *arguments)
    assert Newsletter.objects.count() == 1


@pytest.mark.django_db
def test_add_member_adds_an_account_then_changes_its_role(capsys):
    newsletter = NewsletterFactory(slug="kernel", name="Kernel News")
    UserFactory(username="ada")
    call_command("add_member", "kernel", "ada", "--role", "editor")
    call_command("add_member", "kernel", "ada", "--role", "editor")
    call_command("add_member", "kernel", "ada", "--role", "owner")
    assert capsys.readouterr().out.splitlines() == [
        "ada is now editor of Kernel News.",
        "ada is already editor of Kernel News.",
        "ada is now owner of Kernel News.",
    ]
    assert Membership.objects.get(newsletter=newsletter).role == Role.OWNER


@pytest.mark.django_db
def test_add_member_create_prints_a_link_that_sets_the_password_once(client, capsys):
    NewsletterFactory(slug="kernel")
    call_command(
        "add_member", "kernel", "ada", "--role", "viewer", "--create", "--email", "ada@example.org"
    )
    link = capsys.readouterr().out.strip().splitlines()[-1]
    ada = get_user_model().objects.get(username="ada")
    assert (ada.email, ada.has_usable_password()) == ("ada@example.org", False)
    assert Membership.objects.get(user=ada).role == Role.VIEWER

    form = client.get(urlsplit(link).path, follow=True)
    assert form.context["validlink"] and form.context["first_password"]
    assert "Choose your password" in form.content.decode()
    chosen = "my own long passphrase"
    client.post(form.redirect_chain[-1][0], {"new_password1": chosen, "new_password2": chosen})
    ada.refresh_from_db()
    assert ada.check_password(chosen)
    assert not client.get(urlsplit(link).path, follow=True).context["validlink"]

    # Run again (a script that is re-run): the account exists, no new link.
    call_command("add_member", "kernel", "ada", "--role", "viewer", "--create")
    assert "http" not in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nowhere", "ada", "--role", "editor"], "No newsletter with the slug 'nowhere'"),
        (["kernel", "nobody", "--role", "editor"], "add --create to make one"),
        (["kernel", "gone", "--role", "editor"], "deactivated"),
        (["kernel", "has space", "--role", "editor", "--create"], "username:"),
        (["kernel", "bob", "--role", "editor", "--create", "--email", "x"], "email:"),
        (["kernel", "ada", "--role", "editor", "--email", "a@example.org"], "add --create"),
        (["kernel", "olga", "--role", "editor"], "at least one owner"),
    ],
)
def test_add_member_refuses_bad_input_and_changes_nothing(arguments, message):
    NewsletterFactory(slug="kernel")
    owner = MembershipFactory(
        newsletter=Newsletter.objects.get(slug="kernel"), user__username="olga", role=Role.OWNER
    )
    UserFactory(username="ada")
    UserFactory(username="gone", is_active=False)
    users, memberships = get_user_model().objects.count(), Membership.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("add_member", *arguments)
    assert (get_user_model().objects.count(), Membership.objects.count()) == (users, memberships)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def manage(*arguments: str) -> subprocess.CompletedProcess:
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_the_commands_exit_non_zero_with_one_clear_line_on_bad_input():
    created = manage(
        "create_newsletter", "kernel", "--name", "Kernel News", "--postal-address", "x"
    )
    assert created.returncode == 0, created.stderr
    member = manage("add_member", "kernel", "ada", "--role", "owner", "--create")
    assert member.returncode == 0, member.stderr
    assert member.stdout.strip().splitlines()[-1].startswith("http")
    for arguments, message in [
        (("create_newsletter", "kernel", "--name", "Again"), "slug 'kernel' exists already"),
        (("add_member", "nowhere", "ada", "--role", "owner"), "No newsletter with the slug"),
        (("add_member", "kernel", "ada", "--role", "boss"), "invalid choice: 'boss'"),
    ]:
        result = manage(*arguments)
        assert result.returncode != 0
        assert message in result.stderr
    assert Newsletter.objects.count() == 1
