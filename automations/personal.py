"""What automations keep about a person, through ``subscribers.extensions``: which
automations they are in, in their data export and on their page in the dashboard; an
erased contact leaves every automation at once (in the erasure's transaction)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from subscribers import extensions
from subscribers.models import Subscriber
from subscribers.signals import subscriber_erased

from .models import Enrolment, EnrolmentState


def _enrolments(subscriber):
    return (
        Enrolment.objects.filter(subscriber=subscriber)
        .select_related("automation", "step")
        .order_by("enrolled_at", "id")
    )


def export(subscriber) -> list[dict]:
    return [
        {
            "automation": enrolment.automation.name,
            "state": enrolment.state,
            "step": enrolment.step.position if enrolment.step else None,
            "entered_at": enrolment.enrolled_at.isoformat(),
            "finished_at": enrolment.finished_at.isoformat() if enrolment.finished_at else None,
        }
        for enrolment in _enrolments(subscriber)
    ]


def facts(subscriber, newsletter) -> extensions.Facts | None:
    enrolments = list(_enrolments(subscriber).filter(automation__newsletter=newsletter))
    if not enrolments:
        return None
    return extensions.Facts(
        title=_("Automations"),
        header=[_("Automation"), _("State"), _("Step"), _("Entered")],
        rows=[
            [
                enrolment.automation.name,
                enrolment.get_state_display(),
                str(enrolment.step.position) if enrolment.step else "—",
                enrolment.enrolled_at.strftime("%Y-%m-%d %H:%M"),
            ]
            for enrolment in enrolments
        ],
    )


def leave_on_erasure(sender, *, contact, **kwargs) -> None:
    """Nothing more is queued for an erased contact, whatever step they were on."""
    Enrolment.objects.filter(subscriber=contact, state=EnrolmentState.ACTIVE).update(
        state=EnrolmentState.EXITED,
        next_run_at=None,
        finished_at=timezone.now(),
        exit_reason="Erased.",
    )


def register() -> None:
    extensions.register_personal_data(
        extensions.PersonalData(key="automations", export=export, facts=facts)
    )
    subscriber_erased.connect(
        leave_on_erasure, sender=Subscriber, dispatch_uid="automations.leave_on_erasure"
    )
