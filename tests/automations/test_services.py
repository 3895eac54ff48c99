from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from automations import selectors, services
from automations.models import (
    Automation,
    AutomationStatus,
    Enrolment,
    EnrolmentState,
    Step,
    StepKind,
    Trigger,
)
from automations.services import AutomationStateError, StepSpec
from campaigns.models import Campaign, Kind
from campaigns.models import Status as CampaignStatus
from delivery import sending, sweeper
from delivery.models import Delivery, DeliveryStatus, OutboxMessage
from delivery.progress import campaign_progress
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from subscribers.tokens import Claim
from tests.factories import MailingListFactory, NewsletterFactory, SubscriberFactory

from .conftest import confirmed, welcome_steps

pytestmark = pytest.mark.django_db

# A Monday after any real "now" of the enrolments the tests make.
T0 = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)


def send_all():
    for campaign_id in (
        Delivery.objects.filter(status=DeliveryStatus.QUEUED)
        .values_list("campaign_id", flat=True)
        .distinct()
    ):
        while sending.send_batches(campaign_id=campaign_id):
            pass


def inbox(email: str) -> list[str]:
    """Subjects received by this address, oldest first."""
    return [
        message.subject
        for message in OutboxMessage.objects.order_by("id")
        if email in message.recipients
    ]


def test_a_confirmed_newcomer_gets_each_step_once_in_order(welcome, newsletter, newcomers):
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    enrolment = Enrolment.objects.get(automation=welcome, subscriber=ada)
    assert enrolment.trigger == Trigger.LIST_CONFIRMED

    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard"]

    # A day later: still waiting; ticks in between change nothing.
    for hours in (1, 24, 47):
        services.enrolments_advance(now=T0 + timedelta(hours=hours))
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard"]

    services.enrolments_advance(now=T0 + timedelta(days=2, seconds=1))
    services.enrolments_advance(now=T0 + timedelta(days=3))
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard", "How to contribute"]
    enrolment.refresh_from_db()
    assert enrolment.state == EnrolmentState.DONE
    # Confirming again (another list, the same automation) enrols nobody twice.
    subscribers.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        lists=[newcomers],
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="t",
    )
    assert Enrolment.objects.filter(subscriber=ada).count() == 1


def test_step_campaigns_stay_open_and_are_not_issues(welcome, newsletter, newcomers):
    confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    first = welcome.steps.get(position=1).campaign
    first.refresh_from_db()
    assert first.kind == Kind.AUTOMATION
    # Everyone so far was sent to, yet it stays open for whoever comes next.
    assert first.status == CampaignStatus.SENDING
    assert campaign_progress(campaign=first).sent == 1
    assert sweeper.sweep().finished == []


def test_an_unsubscribe_between_steps_ends_the_sequence(welcome, newsletter, newcomers):
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    subscribers.unsubscribe(claim=Claim(ada.pk, newsletter.pk), source=ConsentSource.ONE_CLICK)
    services.enrolments_advance(now=T0 + timedelta(days=3))
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard"]
    enrolment = Enrolment.objects.get(subscriber=ada)
    assert enrolment.state == EnrolmentState.EXITED
    assert "No longer subscribed" in enrolment.exit_reason
    assert not Delivery.objects.filter(subscriber=ada, campaign__subject="How to contribute")


def test_a_person_who_paused_their_mail_is_held_until_the_pause_ends(
    welcome, newsletter, newcomers
):
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    ada.paused_until = timezone.now() + timedelta(days=10)
    ada.save(update_fields=["paused_until"])
    services.enrolments_advance(now=T0)
    enrolment = Enrolment.objects.get(subscriber=ada)
    assert enrolment.state == EnrolmentState.ACTIVE
    assert enrolment.step.position == 1
    assert enrolment.next_run_at == ada.paused_until
    assert not Delivery.objects.exists()


def test_a_pause_without_an_end_holds_the_person_and_asks_again_daily(
    welcome, newsletter, newcomers
):
    ada = confirmed(newsletter, [newcomers], "ada@example.org")
    ada.paused_indefinitely = True
    ada.save(update_fields=["paused_indefinitely"])
    services.enrolments_advance(now=T0)
    enrolment = Enrolment.objects.get(subscriber=ada)
    assert enrolment.state == EnrolmentState.ACTIVE
    assert enrolment.next_run_at > timezone.now() + timedelta(hours=23)
    ada.paused_indefinitely = False
    ada.save(update_fields=["paused_indefinitely"])
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard"]


def test_pausing_stops_everyone_and_resuming_goes_on_from_their_place(
    welcome, newsletter, newcomers
):
    confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    services.automation_pause(automation=welcome)
    assert {step.campaign.status for step in welcome.steps.filter(kind=StepKind.SEND)} == {
        CampaignStatus.PAUSED
    }
    # Someone confirmed while paused is enrolled, and waits.
    bob = confirmed(newsletter, [newcomers], "bob@example.org")
    assert services.enrolments_advance(now=T0 + timedelta(days=5)) == 0
    assert inbox("bob@example.org") == []

    services.automation_resume(automation=welcome)
    services.enrolments_advance(now=T0 + timedelta(days=5))
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard", "How to contribute"]
    assert inbox("bob@example.org") == ["Welcome aboard"]
    assert Enrolment.objects.get(subscriber=bob).step.kind == StepKind.WAIT
    with pytest.raises(AutomationStateError):
        services.automation_resume(automation=welcome)


def test_editing_a_running_automation_keeps_people_in_their_place(welcome, newsletter, newcomers):
    confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    # Ada waits on step 2. A third email is added, the second one reworded, and the
    # first removed: Ada neither gets the first again nor skips what follows her wait.
    services.step_add(
        automation=welcome, spec=StepSpec(kind="send", subject="Meet the team", body="Hi.")
    )
    second = welcome.steps.get(position=3)
    services.step_update(
        step=second, spec=StepSpec(kind="send", subject="How to help", body="Like this.")
    )
    services.step_remove(step=welcome.steps.get(position=1))
    services.enrolments_advance(now=T0 + timedelta(days=2, minutes=1))
    send_all()
    assert inbox("ada@example.org") == ["Welcome aboard", "How to help", "Meet the team"]
    # The removed step keeps its email and its report.
    assert Step.objects.get(automation=welcome, position=1).removed_at is not None
    assert Delivery.objects.filter(campaign__subject="Welcome aboard").count() == 1


def test_moving_a_step(welcome):
    services.step_move(step=welcome.steps.get(position=3), up=True)
    assert [step.kind for step in welcome.steps.order_by("position")] == [
        StepKind.SEND,
        StepKind.SEND,
        StepKind.WAIT,
    ]


def test_a_stop_step_ends_the_sequence(newsletter, newcomers, editor):
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=editor,
        name="Short",
        lists=[newcomers],
        steps=[
            StepSpec(kind="send", subject="One", body="1"),
            StepSpec(kind="stop"),
            StepSpec(kind="send", subject="Two", body="2"),
        ],
    )
    services.automation_activate(automation=automation)
    confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance(now=T0)
    send_all()
    assert inbox("ada@example.org") == ["One"]
    assert Enrolment.objects.get().state == EnrolmentState.DONE


def test_wait_until_a_weekday_and_hour_in_the_persons_time_zone(newsletter, newcomers, editor):
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=editor,
        name="Friday digest",
        lists=[newcomers],
        steps=[
            StepSpec(kind="wait_until", weekday=4, hour=9, zone_of="subscriber"),
            StepSpec(kind="send", subject="Friday", body="It is Friday."),
        ],
    )
    services.automation_activate(automation=automation)
    confirmed(newsletter, [newcomers], "ada@example.org", time_zone="Asia/Tokyo")
    confirmed(newsletter, [newcomers], "bob@example.org")  # the newsletter's: UTC
    services.enrolments_advance(now=T0)
    ends = dict(Enrolment.objects.values_list("subscriber__email", "next_run_at"))
    # Friday 8 March 2030, 09:00 in Tokyo is 00:00 UTC; in UTC, 09:00.
    assert ends["ada@example.org"] == datetime(2030, 3, 8, 0, 0, tzinfo=UTC)
    assert ends["bob@example.org"] == datetime(2030, 3, 8, 9, 0, tzinfo=UTC)
    services.enrolments_advance(now=datetime(2030, 3, 8, 1, 0, tzinfo=UTC))
    send_all()
    assert inbox("ada@example.org") == ["Friday"]
    assert inbox("bob@example.org") == []


def test_the_time_zone_a_reader_chose_wins_over_an_attribute(newsletter, newcomers, editor):
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=editor,
        name="Friday note",
        lists=[newcomers],
        steps=[
            StepSpec(kind="wait_until", weekday=4, hour=9, zone_of="subscriber"),
            StepSpec(kind="send", subject="Friday", body="It is Friday."),
        ],
    )
    services.automation_activate(automation=automation)
    ada = confirmed(newsletter, [newcomers], "ada@example.org", time_zone="Asia/Tokyo")
    Subscriber.objects.filter(pk=ada.pk).update(time_zone="America/New_York")
    services.enrolments_advance(now=T0)
    # Friday 8 March 2030, 09:00 in New York (EST) is 14:00 UTC.
    assert Enrolment.objects.get().next_run_at == datetime(2030, 3, 8, 14, 0, tzinfo=UTC)


def test_anniversaries_of_a_date_field(newsletter, newcomers, editor):
    confirmed(newsletter, [newcomers], "ada@example.org", first_commit="2019-03-05")
    confirmed(newsletter, [newcomers], "bob@example.org", first_commit="2019-03-06")
    confirmed(newsletter, [newcomers], "cy@example.org", first_commit="2019-13-45")
    confirmed(newsletter, [newcomers], "dee@example.org", first_commit="last spring")
    confirmed(newsletter, [newcomers], "eve@example.org", first_commit="2026-03-05")
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=editor,
        name="Commit anniversary",
        lists=[newcomers],
        trigger=Trigger.ANNIVERSARY,
        trigger_field="first_commit",
        steps=[StepSpec(kind="send", subject="Happy anniversary", body="Thank you!")],
    )
    services.automation_activate(automation=automation)
    assert services.anniversaries_enrol(now=datetime(2026, 3, 5, 12, tzinfo=UTC)) == 1
    assert services.anniversaries_enrol(now=datetime(2026, 3, 5, 13, tzinfo=UTC)) == 0
    assert list(Enrolment.objects.values_list("subscriber__email", flat=True)) == [
        "ada@example.org"
    ]
    # The two values that are not dates are counted where the editor sees them.
    assert selectors.automation_report(automation).unreadable_dates == 2


def test_29_february_is_celebrated_on_the_28th_in_other_years():
    assert services.anniversary_days(date(2027, 2, 28)) == ["02-28", "02-29"]
    assert services.anniversary_days(date(2028, 2, 28)) == ["02-28"]


# Bad input: clear, and nothing saved


def test_a_bad_step_saves_nothing_and_names_the_step(newsletter, newcomers, editor):
    steps = [
        *welcome_steps(),
        StepSpec(kind="wait_until", weekday=2, hour=25),
    ]
    with pytest.raises(ValidationError) as caught:
        services.automation_create(
            newsletter=newsletter, created_by=editor, name="W", lists=[newcomers], steps=steps
        )
    assert caught.value.message_dict == {"steps.3.hour": ["An hour from 0 to 23."]}
    assert not Automation.objects.exists()
    assert not Campaign.objects.exists()


def test_an_email_that_does_not_render_names_its_step(newsletter, newcomers, editor):
    with pytest.raises(ValidationError) as caught:
        services.automation_create(
            newsletter=newsletter,
            created_by=editor,
            name="W",
            lists=[newcomers],
            steps=[StepSpec(kind="send", subject="Hi", body="Hello {{ subscriber.nam }")],
        )
    assert list(caught.value.message_dict) == ["steps.0.body"]
    assert not Automation.objects.exists()


def test_an_unknown_date_field_is_refused(newsletter, newcomers, editor):
    with pytest.raises(ValidationError) as caught:
        services.automation_create(
            newsletter=newsletter,
            created_by=editor,
            name="W",
            lists=[newcomers],
            trigger=Trigger.ANNIVERSARY,
            trigger_field="first_comit",
        )
    assert caught.value.message_dict == {
        "trigger_field": ["Unknown field: no subscriber of this newsletter has “first_comit”."]
    }
    assert not Automation.objects.exists()


def test_an_empty_automation_cannot_start(newsletter, newcomers, editor):
    automation = services.automation_create(
        newsletter=newsletter, created_by=editor, name="Empty", lists=[newcomers]
    )
    with pytest.raises(ValidationError) as caught:
        services.automation_activate(automation=automation)
    assert caught.value.message_dict == {"steps": ["An automation needs at least one step."]}
    automation.refresh_from_db()
    assert automation.status == AutomationStatus.DRAFT


def test_lists_of_another_newsletter_are_refused(newsletter, editor):
    elsewhere = MailingListFactory(newsletter=NewsletterFactory())
    with pytest.raises(ValidationError) as caught:
        services.automation_create(
            newsletter=newsletter, created_by=editor, name="W", lists=[elsewhere]
        )
    assert list(caught.value.message_dict) == ["lists"]


def test_a_person_of_another_newsletter_cannot_be_enrolled(welcome):
    stranger = SubscriberFactory(newsletter=NewsletterFactory())
    with pytest.raises(ValidationError):
        services.enrol(automation=welcome, subscriber=stranger, trigger=Trigger.API)
    assert not Enrolment.objects.exists()


def test_a_draft_can_be_deleted_with_its_emails_but_a_started_one_cannot(
    newsletter, newcomers, editor, welcome
):
    draft = services.automation_create(
        newsletter=newsletter, created_by=editor, name="D", lists=[newcomers], steps=welcome_steps()
    )
    services.automation_delete(automation=draft)
    assert Campaign.objects.count() == 2  # the welcome series' own
    with pytest.raises(AutomationStateError):
        services.automation_delete(automation=welcome)
