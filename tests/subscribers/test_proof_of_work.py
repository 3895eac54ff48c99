import base64
import json
import re

import pytest
from altcha import solve_challenge_v1
from django.urls import reverse

from subscribers import proof_of_work
from subscribers.models import Subscriber
from tests.factories import MailingListFactory, NewsletterFactory


@pytest.fixture(autouse=True)
def small_puzzles(settings):
    settings.PROOF_OF_WORK_MAX_NUMBER = 2000


def solve(challenge: dict, **changes) -> str:
    """What the browser does: find the number, post the challenge back with it."""
    number = solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    ).number
    payload = {key: challenge[key] for key in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**payload, "number": number, **changes}).encode()).decode()


def test_a_solved_challenge_passes_once():
    payload = solve(proof_of_work.new_challenge())
    assert proof_of_work.is_solved(payload)
    assert not proof_of_work.is_solved(payload)


@pytest.mark.parametrize("payload", ["", "garbage", base64.b64encode(b"{}").decode()])
def test_nonsense_fails(payload):
    assert not proof_of_work.is_solved(payload)


def test_a_wrong_number_or_forged_signature_fails():
    challenge = proof_of_work.new_challenge()
    assert not proof_of_work.is_solved(solve(challenge, number=-1))
    assert not proof_of_work.is_solved(solve(challenge, signature="0" * 64))


@pytest.mark.django_db
def test_subscribe_requires_the_puzzle_when_the_newsletter_asks(client):
    newsletter = NewsletterFactory(slug="guarded", require_proof_of_work=True)
    MailingListFactory(newsletter=newsletter, slug="news")
    page = client.get("/n/guarded/")
    script = re.search(r'id="pow-challenge"[^>]*>(.*?)</script>', page.content.decode())
    challenge = json.loads(script.group(1))
    data = {"email": "ada@example.org", "lists": ["news"], "consent": "on"}
    url = reverse("subscribers:subscribe", args=["guarded"])

    refused = client.post(url, data)
    assert refused.status_code == 422
    assert "The anti-spam check did not finish." in refused.content.decode()
    assert not Subscriber.objects.exists()

    accepted = client.post(url, {**data, "altcha": solve(challenge)})
    assert accepted.status_code == 200
    assert Subscriber.objects.filter(email="ada@example.org").exists()
