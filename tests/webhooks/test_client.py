import socket

import pytest

from newsletter import network
from newsletter import outbound as client
from tests.webhooks.conftest import TLS_NAME

POLICY = {"allow_private": False, "allow_http": False, "timeout": 2, "max_bytes": 64 * 1024}


def post(url: str, **overrides):
    return client.post(url, body=b"{}", **{"headers": {}, **POLICY, **overrides})


@pytest.fixture
def no_network(monkeypatch):
    """Any real connection attempt fails the test: refusals must come before connecting."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the client tried to connect")

    monkeypatch.setattr(socket, "create_connection", forbidden)


NON_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_a_name_resolving_to_a_non_public_address_is_refused(monkeypatch, no_network, address):
    monkeypatch.setattr(network, "resolve", lambda host, port: [address])
    with pytest.raises(client.Refused, match="non-public"):
        post("https://hooks.example.org/crier")


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/", "https://10.0.0.5/", "https://169.254.169.254/latest/meta-data/",
     "https://[::1]/"],
)  # fmt: skip
def test_a_literal_non_public_address_is_refused_without_connecting(no_network, url):
    with pytest.raises(client.Refused):
        post(url)


def test_one_private_answer_among_public_ones_is_enough_to_refuse(monkeypatch, no_network):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["93.184.215.14", "10.0.0.1"])
    with pytest.raises(client.Refused, match=r"10\.0\.0\.1"):
        post("https://hooks.example.org/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.org/", "only https"),
        ("ftp://hooks.example.org/", "only https"),
        ("https://user:pass@hooks.example.org/", "credentials"),
        ("https:///path", "no host"),
    ],
)
def test_urls_are_refused_for_their_shape_before_any_lookup(monkeypatch, url, message):
    monkeypatch.setattr(network, "resolve", pytest.fail)
    with pytest.raises(client.Refused, match=message):
        post(url)


def test_public_addresses_are_public():
    assert client.is_public("93.184.215.14")
    assert client.is_public("2606:4700::1111")
    assert not client.is_public("::ffff:10.0.0.1")


def test_allowed_private_http_posts_to_the_resolved_address_with_the_names_host(
    monkeypatch, receiver
):
    port = receiver.url.split(":")[2].split("/")[0]
    looked_up = []

    def resolve(host, port):
        looked_up.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(network, "resolve", resolve)
    reply = post(
        f"http://hooks.internal.test:{port}/hooks?x=1",
        allow_private=True,
        allow_http=True,
        headers={"X-Test": "yes"},
    )
    assert reply.status == 200
    assert reply.body == b"ok"
    assert looked_up == ["hooks.internal.test"]
    (request,) = receiver.requests
    assert request.path == "/hooks?x=1"
    assert request.headers["Host"] == f"hooks.internal.test:{port}"
    assert request.headers["X-Test"] == "yes"


def test_the_answer_is_read_up_to_the_cap_only(receiver):
    receiver.reply = b"x" * 200_000
    reply = post(receiver.url, allow_private=True, allow_http=True, max_bytes=64 * 1024)
    assert len(reply.body) == 64 * 1024


def test_an_endpoint_that_never_answers_is_a_transport_error():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(client.TransportError):
            post(url, allow_private=True, allow_http=True, timeout=0.5)


def test_a_closed_port_is_a_transport_error():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(client.TransportError):
        post(f"http://127.0.0.1:{port}/", allow_private=True, allow_http=True)


def test_https_connects_to_the_checked_address_but_verifies_the_names_certificate(
    monkeypatch, tls_receiver
):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["127.0.0.1"])
    reply = post(f"https://{TLS_NAME}:{tls_receiver.port}/hooks", allow_private=True)
    assert reply.status == 200
    assert tls_receiver.requests[0].headers["Host"] == f"{TLS_NAME}:{tls_receiver.port}"


def test_https_refuses_a_certificate_for_another_name(monkeypatch, tls_receiver):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["127.0.0.1"])
    with pytest.raises(client.TransportError):
        post(f"https://other.example.test:{tls_receiver.port}/hooks", allow_private=True)
    assert tls_receiver.requests == []
