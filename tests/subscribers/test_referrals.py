"""Referral codes: a subscription that came through a reader's link is attributed to them
in the consent ledger, by id only, and a code that is not one gets a clear page."""

import re

import pytest
from django.urls import reverse

from subscribers import personal_data, services, signals, tokens
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource, Subscriber
from tests.factories import MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    newsletter = NewsletterFactory(slug="kernel", name="Kernel News")
    MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    return newsletter


def reader(newsletter, email="grace@example.org") -> Subscriber:
    services.subscribe(
        newsletter=newsletter,
        email=email,
        lists=list(newsletter.lists.all()),
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="met at the summit",
    )
    return Subscriber.objects.with_address(email).get()


def code_of(subscriber, newsletter) -> str:
    return tokens.referral_code(tokens.Claim(subscriber.pk, newsletter.pk))


def test_a_code_is_opaque_stable_and_refuses_any_change(newsletter):
    claim = tokens.Claim(1234, newsletter.pk)
    code = tokens.referral_code(claim)
    assert code == tokens.referral_code(claim) and len(code) == 22
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", code)
    assert "1234" not in code
    assert tokens.read_referral_code(code) == claim
    for broken in (
        code[:-2] + ("AA" if code[-2:] != "AA" else "BB"),
        code[:-1],
        code + "a",
        "",
        "-" * 22,
    ):
        with pytest.raises(tokens.InvalidToken):
            tokens.read_referral_code(broken)


def test_a_code_brings_nobody_in_another_newsletter_or_once_erased(newsletter):
    grace = reader(newsletter)
    other = NewsletterFactory()
    assert services.referrer_for(newsletter=newsletter, code=code_of(grace, newsletter)) == grace
    assert services.referrer_for(newsletter=other, code=code_of(grace, newsletter)) is None
    assert services.referrer_for(newsletter=other, code=code_of(grace, other)) is None
    personal_data.erase(claim=tokens.Claim(grace.pk, newsletter.pk), source=ConsentSource.DASHBOARD)
    assert services.referrer_for(newsletter=newsletter, code=code_of(grace, newsletter)) is None


def test_the_referral_link_shows_the_form_carrying_the_code(client, newsletter):
    code = code_of(reader(newsletter), newsletter)
    page = client.get(f"/n/kernel/?ref={code}").content.decode()
    assert f'name="ref" value="{code}"' in page
    assert "They will not learn your address." in page
    assert "grace@example.org" not in page


@pytest.mark.parametrize("code", ["nope", "a" * 22, "<script>", "a" * 21 + "!"])
def test_a_code_that_does_not_exist_gets_a_clear_page(client, newsletter, code):
    response = client.get("/n/kernel/", {"ref": code})
    assert response.status_code == 404
    assert "This invitation link does not work" in response.content.decode()


def test_a_subscription_through_the_link_is_attributed_in_the_ledger_by_id(client, newsletter):
    grace = reader(newsletter)
    heard = []
    receiver = lambda sender, **kwargs: heard.append(kwargs.get("referrer"))  # noqa: E731
    signals.subscribed.connect(receiver)
    try:
        response = client.post(
            reverse("subscribers:subscribe", args=["kernel"]),
            {
                "email": "ada@example.org",
                "lists": ["releases"],
                "consent": "on",
                "ref": code_of(grace, newsletter),
            },
        )
    finally:
        signals.subscribed.disconnect(receiver)
    assert response.status_code == 200
    ada = Subscriber.objects.with_address("ada@example.org").get()
    event = ConsentEvent.objects.get(subscriber=ada, action=ConsentAction.SUBSCRIBED)
    assert event.details["referred_by"] == grace.pk
    assert "grace" not in str(event.details) and event.wording == newsletter.consent_text
    assert heard == [grace]


def test_a_bad_code_in_the_form_is_refused_and_nothing_is_recorded(client, newsletter):
    response = client.post(
        reverse("subscribers:subscribe", args=["kernel"]),
        {"email": "ada@example.org", "lists": ["releases"], "consent": "on", "ref": "b" * 22},
    )
    assert response.status_code == 422
    assert "The invitation link you followed is not valid" in response.content.decode()
    assert not Subscriber.objects.with_address("ada@example.org").exists()


def test_one_s_own_link_brings_nobody(newsletter):
    grace = reader(newsletter)
    security = MailingListFactory(newsletter=newsletter, slug="security")
    services.subscribe(
        newsletter=newsletter,
        email="grace@example.org",
        lists=[security],
        source=ConsentSource.FORM,
        wording="x",
        referrer=grace,
    )
    started = ConsentEvent.objects.get(mailing_list=security, action=ConsentAction.SUBSCRIBED)
    assert "referred_by" not in started.details


def test_a_campaign_s_coder_gives_each_reader_the_code_they_always_have():
    coder = tokens.referral_coder(7)
    codes = [coder(subscriber_id) for subscriber_id in range(1, 300)]
    assert codes == [tokens.referral_code(tokens.Claim(pk, 7)) for pk in range(1, 300)]
    assert len(set(codes)) == len(codes)
    assert all(
        tokens.read_referral_code(code) == tokens.Claim(pk, 7)
        for pk, code in enumerate(codes, start=1)
    )
