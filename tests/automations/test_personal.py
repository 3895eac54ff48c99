import pytest

from automations import services
from automations.models import Enrolment, EnrolmentState
from subscribers import personal_data
from subscribers.models import ConsentSource
from subscribers.tokens import Claim

from .conftest import confirmed
from .test_services import T0

pytestmark = pytest.mark.django_db


def test_a_persons_automations_are_in_their_export(welcome, newsletter, newcomers):
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    exported = personal_data.export_person(ada)
    (entry,) = exported["newsletters"][0]["automations"]
    assert entry["automation"] == "Welcome"
    assert entry["state"] == EnrolmentState.ACTIVE
    assert entry["step"] == 2


def test_an_erased_contact_leaves_every_automation_at_once(welcome, newsletter, newcomers):
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    personal_data.erase(claim=Claim(ada.pk, newsletter.pk), source=ConsentSource.DASHBOARD)
    enrolment = Enrolment.objects.get(subscriber=ada)
    assert enrolment.state == EnrolmentState.EXITED
    assert enrolment.next_run_at is None
    assert services.enrolments_advance(now=T0.replace(year=2031)) == 0
