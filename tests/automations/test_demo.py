import pytest
from django.core.management import call_command

from automations import services
from automations.models import Automation, AutomationStatus, StepKind
from newsletter.models import Newsletter
from tests.automations.test_services import T0, inbox, send_all

from .conftest import confirmed

pytestmark = pytest.mark.django_db


def test_the_demo_welcomes_new_subscribers_in_two_steps():
    call_command("seed_demo")
    call_command("seed_demo")
    demo = Newsletter.objects.get(slug="demo")
    (welcome,) = Automation.objects.filter(newsletter=demo)
    assert welcome.status == AutomationStatus.ACTIVE
    assert [step.kind for step in welcome.steps.all()] == [
        StepKind.SEND,
        StepKind.WAIT,
        StepKind.SEND,
    ]
    confirmed(demo, [demo.lists.get(slug="releases")], "new@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("new@example.org") == ["Welcome to Demo Project News"]
