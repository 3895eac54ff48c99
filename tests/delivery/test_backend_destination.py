"""A sending backend's secret is bound to where it goes, and an owner's SMTP host or API
URL cannot reach the server's own network.

The hole: an owner points the stored backend at another host (their own), keeps the
stored password or API key, presses "send a test" and receives it.
"""

import socket

import pytest
from django.urls import reverse
from django.utils import translation

from delivery import lifecycle, sending, sending_backends, transports
from delivery.backends.smtp import EmailBackend, HostRefused
from delivery.models import BackendKind, Delivery, DeliveryStatus, SendingBackend
from newsletter import network
from newsletter.models import Role
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.factories import CampaignFactory, MailingListFactory, MembershipFactory

pytestmark = pytest.mark.django_db

SMTP = {
    "kind": BackendKind.SMTP,
    "active": True,
    "host": "smtp.example.org",
    "port": 587,
    "security": "starttls",
    "username": "crier",
}
API = {"kind": BackendKind.MAILGUN, "active": True, "api_url": "https://api.eu.mailgun.net/v3"}
SES = {"kind": BackendKind.AMAZON_SES, "active": True, "region": "eu-west-1"}


@pytest.fixture
def public_dns(monkeypatch):
    """Every name resolves to a public address (nothing is looked up for real)."""
    monkeypatch.setattr(network, "resolve", lambda host, port: ["93.184.215.14"])


@pytest.fixture
def newsletter(public_dns):
    return MembershipFactory(role=Role.OWNER).newsletter


def save(newsletter, values, secrets=None):
    return sending_backends.sending_backend_save(
        newsletter=newsletter, values=dict(values), new_secrets=secrets or {}
    )


def stored(newsletter):
    backend = SendingBackend.objects.get(newsletter=newsletter)
    return backend, transports.read_secrets(backend)


MOVES = [
    (SMTP, {"host": "mail.attacker.example"}, "SMTP host"),
    (SMTP, {"host": "SMTP.example.org"}, "SMTP host"),
    (SMTP, {"port": 2525}, "SMTP port"),
    (SMTP, {"security": "none"}, "SMTP encryption"),
    (SMTP, {"username": "someone-else"}, "SMTP user name"),
    (SMTP, {"kind": BackendKind.MAILGUN}, "service"),
    (API, {"api_url": "https://collect.attacker.example/v3"}, "API base URL"),
    (API, {"api_url": ""}, "API base URL"),
    (API, {"kind": BackendKind.SENDGRID}, "service"),
    (SES, {"region": "us-east-1"}, "region"),
]
SECRETS = {
    BackendKind.SMTP: {"password": "hunter2"},
    BackendKind.MAILGUN: {"api_key": "key-live"},
    BackendKind.SENDGRID: {"api_key": "SG.live"},
    BackendKind.AMAZON_SES: {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s3cr3t"},
}


@pytest.mark.parametrize(("values", "change", "label"), MOVES)
def test_a_secret_does_not_follow_a_changed_destination(newsletter, values, change, label):
    save(newsletter, values, SECRETS[values["kind"]])
    before = stored(newsletter)
    with pytest.raises(sending_backends.BackendConfigError) as refused:
        save(newsletter, {**values, **change})
    assert label in str(refused.value)
    assert refused.value.field == "secret"
    backend, secrets = stored(newsletter)
    assert (backend.kind, backend.host, backend.port, backend.api_url, backend.region) == (
        before[0].kind,
        before[0].host,
        before[0].port,
        before[0].api_url,
        before[0].region,
    )
    assert secrets == before[1]


@pytest.mark.parametrize(("values", "change", "label"), MOVES)
def test_entering_the_secret_again_moves_it(newsletter, values, change, label):
    save(newsletter, values, SECRETS[values["kind"]])
    moved = {**values, **change}
    new = {name: f"new-{value}" for name, value in SECRETS[moved["kind"]].items()}
    save(newsletter, moved, new)
    assert stored(newsletter)[1] == new


def test_the_secrets_to_enter_again_are_asked_for_in_the_owner_s_language(newsletter):
    # One sentence per secret: French needs "l’ID" and "la clé", so the labels cannot be
    # spliced into one sentence, and the changed field is named in French too.
    save(newsletter, SES, SECRETS[BackendKind.AMAZON_SES])
    with translation.override("fr"), pytest.raises(sending_backends.BackendConfigError) as refused:
        save(newsletter, {**SES, "region": "us-east-1"})
    assert str(refused.value) == (
        "Saisissez l’ID de clé d’accès. Saisissez la clé d’accès secrète. Un secret enregistré "
        "est oublié quand sa destination change (ici : région)."
    )
    assert refused.value.field == "secret"


def test_other_changes_keep_the_stored_secret(newsletter):
    save(newsletter, SMTP, {"password": "hunter2"})
    save(newsletter, {**SMTP, "rate_per_second": 5, "batch_size": 10, "active": False})
    backend, secrets = stored(newsletter)
    assert (backend.rate_per_second, backend.active) == (5, False)
    assert secrets == {"password": "hunter2"}


def test_an_unauthenticated_smtp_host_moves_without_a_secret_and_drops_the_old_one(newsletter):
    save(newsletter, SMTP, {"password": "hunter2"})
    save(newsletter, {**SMTP, "host": "relay.example.org", "username": ""})
    assert stored(newsletter)[1] == {}


def test_the_dashboard_names_what_changed_and_keeps_everything(client, newsletter):
    save(newsletter, SMTP, {"password": "hunter2"})
    owner = newsletter.membership_set.get().user
    client.force_login(owner)
    data = {
        **SMTP,
        "host": "mail.attacker.example",
        "active": "on",
        "secret": "",
        "secret_key": "",
        "rate_per_second": 0,
        "rate_per_hour": 0,
        "rate_per_day": 0,
        "domain_rate_per_minute": 0,
        "batch_size": 0,
    }
    response = client.post(reverse("dashboard:sending_backend", args=[newsletter.slug]), data)
    assert response.status_code == 422
    errors = response.context["form"].errors["secret"]
    assert "(here: SMTP host)" in " ".join(errors)
    backend, secrets = stored(newsletter)
    assert backend.host == "smtp.example.org" and secrets == {"password": "hunter2"}


# The private-address policy, applied to SMTP hosts (and API URLs when saved)

PRIVATE = [
    "127.0.0.1",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.10",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104
    "::1",
    "fe80::1",
    "fd00::25",
    "::ffff:10.0.0.5",
    "2002:a9fe:a9fe::1",
    "64:ff9b::a00:5",
]


@pytest.mark.parametrize("address", PRIVATE)
def test_an_smtp_host_resolving_to_a_private_address_is_refused_when_saved(
    newsletter, monkeypatch, address
):
    monkeypatch.setattr(network, "resolve", lambda host, port: [address])
    with pytest.raises(sending_backends.BackendConfigError) as refused:
        save(newsletter, {**SMTP, "host": "internal.example.org"}, {"password": "x"})
    assert refused.value.field == "host"
    assert address in str(refused.value)
    with pytest.raises(sending_backends.BackendConfigError) as refused:
        save(newsletter, {**API, "api_url": "https://internal.example.org/v3"}, {"api_key": "k"})
    assert refused.value.field == "api_url"
    assert not SendingBackend.objects.exists()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "::1", "169.254.169.254"])
def test_a_literal_private_host_is_refused_by_the_real_resolver(address):
    newsletter = MembershipFactory(role=Role.OWNER).newsletter
    with pytest.raises(sending_backends.BackendConfigError) as refused:
        save(newsletter, {**SMTP, "host": address, "username": ""})
    assert refused.value.field == "host"


def test_the_instance_admin_may_allow_private_hosts(newsletter, monkeypatch, settings):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    monkeypatch.setattr(network, "resolve", lambda host, port: ["10.0.0.25"])
    backend = save(newsletter, {**SMTP, "host": "relay.internal"}, {"password": "x"})
    assert backend.host == "relay.internal"


@pytest.fixture
def no_connection(monkeypatch):
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"connected to {address}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize("address", PRIVATE)
def test_the_smtp_connection_refuses_a_private_answer_before_connecting(
    monkeypatch, no_connection, address
):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["93.184.215.14", address])
    backend = EmailBackend(host="smtp.example.org", port=587, use_tls=True, timeout=2)
    with pytest.raises(HostRefused, match="non-public"):
        backend.open()
    assert no_connection == []


def test_the_smtp_connection_goes_to_the_checked_address_under_the_name(
    monkeypatch, smtp_sink, settings
):
    """The name is resolved once, by the check; the socket goes to that answer (a name
    that no real DNS knows still reaches the sink), so a rebinding answer cannot move it."""
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(network, "resolve", resolve)
    backend = EmailBackend(
        host="mail.crier-test.invalid", port=smtp_sink.port, timeout=5, allow_private=True
    )
    assert backend.open()
    assert backend.connection._host == "mail.crier-test.invalid"  # TLS and EHLO use the name
    backend.close()
    assert lookups == ["mail.crier-test.invalid"]


def test_a_campaign_through_a_host_that_turned_private_sends_nothing(
    newsletter, monkeypatch, smtp_sink, settings
):
    releases = MailingListFactory(newsletter=newsletter)
    for name in ("ada", "grace"):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"{name}@example.org",
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="I agree.",
            attestation="test",
        )
    save(
        newsletter,
        {**SMTP, "host": "smtp.example.org", "port": smtp_sink.port, "security": "none"},
        {"password": "hunter2"},
    )
    # DNS now answers with a private address (rebinding, or a changed record).
    monkeypatch.setattr(network, "resolve", lambda host, port: ["127.0.0.1"])
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    assert smtp_sink.handler.recipients() == []
    rows = Delivery.objects.filter(campaign=campaign)
    assert {row.status for row in rows} == {DeliveryStatus.FAILED}
    assert all("non-public" in row.last_error for row in rows)
