from datetime import timedelta

import pytest

from automations import services
from automations.models import Trigger
from automations.services import StepSpec
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.factories import MailingListFactory, NewsletterFactory, UserFactory


@pytest.fixture
def newsletter(db):
    return NewsletterFactory(slug="kernel", name="Kernel News")


@pytest.fixture
def newcomers(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="newcomers", name="Newcomers")


@pytest.fixture
def editor(db):
    return UserFactory(username="editor")


def confirmed(newsletter, lists, email, **attributes):
    """A person confirmed on ``lists`` at once (an attested import), as the signal says."""
    subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        lists=lists,
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="t",
    )
    person = Subscriber.objects.get(newsletter=newsletter, email=email)
    if attributes:
        person.attributes = attributes
        person.save(update_fields=["attributes"])
    return person


def welcome_steps(days: int = 2) -> list[StepSpec]:
    return [
        StepSpec(kind="send", subject="Welcome aboard", body="Hello {{ subscriber.name }}!"),
        StepSpec(kind="wait", delay=timedelta(days=days)),
        StepSpec(kind="send", subject="How to contribute", body="Here is how."),
    ]


@pytest.fixture
def welcome(newsletter, newcomers, editor):
    """A two-step welcome series, active."""
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=editor,
        name="Welcome",
        lists=[newcomers],
        trigger=Trigger.LIST_CONFIRMED,
        steps=welcome_steps(),
    )
    return services.automation_activate(automation=automation)
