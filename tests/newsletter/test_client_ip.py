"""The visitor's address is read through the configured number of trusted proxies, from
the right of X-Forwarded-For: what the client writes there itself is never believed."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from newsletter.http import client_ip
from subscribers.models import ConsentEvent
from tests.factories import MailingListFactory, NewsletterFactory

PROXY = "10.0.0.2"
CLIENT = "203.0.113.9"


def address(forwarded: str | None, *, proxies: int, settings, remote: str = PROXY) -> str:
    settings.TRUSTED_PROXIES = proxies
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


@pytest.mark.parametrize(
    "forwarded",
    [None, CLIENT, f"198.51.100.1, {CLIENT}", "garbage", f"{CLIENT}, {CLIENT}"],
)
def test_without_trusted_proxies_the_header_is_ignored(settings, forwarded):
    assert address(forwarded, proxies=0, settings=settings, remote=CLIENT) == CLIENT


@pytest.mark.parametrize(
    "forwarded",
    [
        CLIENT,
        f"1.2.3.4, {CLIENT}",  # the client forged an entry; the proxy appended the real one
        f"1.2.3.4,{CLIENT}",
        f"127.0.0.1, 10.9.9.9, , {CLIENT}",
        f"not-an-ip, {CLIENT}",
        f" {CLIENT} ",
        f"1.2.3.4, {CLIENT}:51234",
    ],
)
def test_behind_one_proxy_the_rightmost_entry_is_the_client(settings, forwarded):
    assert address(forwarded, proxies=1, settings=settings) == CLIENT


def test_behind_two_proxies_the_second_from_the_right_is_the_client(settings):
    forwarded = f"1.2.3.4, {CLIENT}, 10.0.0.3"
    assert address(forwarded, proxies=2, settings=settings) == CLIENT


def test_ipv6_entries_with_or_without_brackets_and_port(settings):
    assert address("2001:db8::1", proxies=1, settings=settings) == "2001:db8::1"
    assert address("1.2.3.4, [2001:db8::1]:443", proxies=1, settings=settings) == "2001:db8::1"


def test_a_request_that_skipped_the_proxies_gives_the_leftmost_address(settings):
    assert address(None, proxies=1, settings=settings, remote=CLIENT) == CLIENT
    assert address(CLIENT, proxies=3, settings=settings) == CLIENT


def test_an_entry_that_is_not_an_address_gives_the_proxy(settings):
    assert address("1.2.3.4, nonsense", proxies=1, settings=settings) == PROXY
    assert address("1.2.3.4, 10.0.0.300", proxies=1, settings=settings) == PROXY


@pytest.mark.django_db
def test_a_forged_header_does_not_escape_the_subscribe_rate_limit(client, settings):
    settings.TRUSTED_PROXIES = 1
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"  # what the old setting said to set
    settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = 2
    newsletter = NewsletterFactory(slug="kernel")
    MailingListFactory(newsletter=newsletter, slug="releases")
    url = reverse("subscribers:subscribe", args=["kernel"])
    codes = [
        client.post(
            url,
            {"email": f"p{n}@example.org", "lists": ["releases"], "consent": "on"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {CLIENT}",  # a new "first address" each time
        ).status_code
        for n in range(3)
    ]
    assert codes == [200, 200, 429]


@pytest.mark.django_db
def test_consent_evidence_records_the_address_the_proxy_saw(client, settings):
    settings.TRUSTED_PROXIES = 1
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"  # what the old setting said to set
    newsletter = NewsletterFactory(slug="kernel", record_consent_ip=True)
    MailingListFactory(newsletter=newsletter, slug="releases")
    client.post(
        reverse("subscribers:subscribe", args=["kernel"]),
        {"email": "ada@example.org", "lists": ["releases"], "consent": "on"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=f"8.8.8.8, {CLIENT}",
    )
    assert list(ConsentEvent.objects.values_list("ip_address", flat=True)) == [CLIENT]
