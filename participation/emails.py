"""The mail participation sends itself, one message at a time, from the newsletter and
through its sending backend, like a confirmation: described here, built and sent by
delivery (``newsletter.mail``).

Each function re-reads what it needs and checks it still applies: a task may run
late or twice (acks_late), and must then send nothing wrong.
"""

import logging
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from newsletter import mail
from newsletter.links import absolute_url
from newsletter.models import Newsletter

from . import selectors, tokens
from .models import Consultation, ReferrerProfile, Submission, SubmissionStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Button:
    label: str
    url: str


def _send(
    *,
    newsletter: Newsletter,
    to: str,
    subject: str,
    paragraphs: list[str],
    button: Button | None = None,
) -> None:
    context = {"newsletter": newsletter, "paragraphs": paragraphs, "button": button}
    mail.send(
        mail.SystemMessage(
            to=(to,),
            subject=subject,
            text=render_to_string("participation/email/notice.txt", context),
            html=render_to_string("participation/email/notice.html", context),
            newsletter=newsletter,
        )
    )


CONTRIBUTOR_EVENTS = ("changes_requested", "rejected", "published")


def tell_contributor(*, submission_id: int, event: str) -> bool:
    """Tell a contributor what became of their submission, if they left an address
    (and, for publication, asked to be told) and it is still in that state."""
    submission = (
        Submission.objects.select_related("call__newsletter", "campaign")
        .filter(pk=submission_id)
        .first()
    )
    if submission is None or not submission.email or event not in CONTRIBUTOR_EVENTS:
        return False
    call = submission.call
    newsletter = call.newsletter
    with translation.override(newsletter.language):
        if event == "changes_requested":
            if submission.status != SubmissionStatus.CHANGES_REQUESTED:
                return False
            subject = _("Your contribution to “%(call)s”: a change is asked") % {"call": call.title}
            paragraphs = [
                _("Thank you for “%(title)s”. Before it can be published, the editors ask:")
                % {"title": submission.title},
                submission.note,
                _("Edit it with the button below; the link works for 30 days."),
            ]
            button = Button(
                _("Edit my contribution"),
                absolute_url(
                    "participation:submission_edit",
                    newsletter=newsletter.slug,
                    call=call.slug,
                    token=tokens.submission_token(submission.pk, submission.revision),
                ),
            )
        elif event == "rejected":
            if submission.status != SubmissionStatus.REJECTED:
                return False
            subject = _("Your contribution to “%(call)s”") % {"call": call.title}
            paragraphs = [
                _("Thank you for “%(title)s”. The editors will not publish it this time.")
                % {"title": submission.title},
                *([submission.note] if submission.note else []),
            ]
            button = None
        else:
            if (
                submission.status != SubmissionStatus.PUBLISHED
                or not submission.notify_on_publish
                or submission.contributor_told_at is not None
            ):
                return False
            campaign = submission.campaign
            subject = _("“%(title)s” is published") % {"title": submission.title}
            paragraphs = [
                _("Your contribution “%(title)s” went out in %(newsletter)s, credited to %(name)s.")
                % {
                    "title": submission.title,
                    "newsletter": newsletter.name,
                    "name": submission.credit_name,
                }
            ]
            if campaign is not None and campaign.public:
                button = Button(
                    _("Read it in the archive"),
                    absolute_url(
                        "campaigns:archive", newsletter=newsletter.slug, campaign=campaign.slug
                    ),
                )
            else:
                button = Button(
                    _("The newsletter's page"),
                    absolute_url("subscribers:newsletter", slug=newsletter.slug),
                )
        _send(
            newsletter=newsletter,
            to=submission.email,
            subject=subject,
            paragraphs=paragraphs,
            button=button,
        )
    if event == "published":
        Submission.objects.filter(pk=submission.pk).update(contributor_told_at=timezone.now())
    logger.info("contributor told", extra={"submission": submission.pk, "event": event})
    return True


def send_referral_thanks(*, profile_id: int, milestone: int) -> bool:
    profile = (
        ReferrerProfile.objects.select_related("newsletter", "subscriber")
        .filter(pk=profile_id)
        .first()
    )
    if profile is None or not profile.subscriber.email or profile.milestone_thanked != milestone:
        return False
    newsletter = profile.newsletter
    with translation.override(profile.subscriber.language or newsletter.language):
        _send(
            newsletter=newsletter,
            to=profile.subscriber.email,
            subject=_("Thank you for sharing %(newsletter)s") % {"newsletter": newsletter.name},
            paragraphs=[
                ngettext(
                    "Someone subscribed to %(newsletter)s through your link. Thank you!",
                    "%(count)s people subscribed to %(newsletter)s through your link. Thank you!",
                    milestone,
                )
                % {"count": milestone, "newsletter": newsletter.name},
                _(
                    "We never tell them who you are, nor you who they are. Your link and how "
                    "many it brought are in your preference center."
                ),
            ],
        )
    return True


def send_answer_link(*, consultation_id: int, subscriber_id: int) -> bool:
    """A subscriber asked for their own link to a consultation, from its public page."""
    consultation = (
        Consultation.objects.select_related("newsletter").filter(pk=consultation_id).first()
    )
    if consultation is None or not consultation.is_open:
        return False
    person = selectors.reader(consultation.newsletter, subscriber_id)
    if person is None or not person.email:
        return False
    newsletter = consultation.newsletter
    with translation.override(person.language or newsletter.language):
        _send(
            newsletter=newsletter,
            to=person.email,
            subject=_("Your link to answer “%(title)s”") % {"title": consultation.title},
            paragraphs=[
                _("Here is your own link to answer “%(title)s” in %(newsletter)s.")
                % {"title": consultation.title, "newsletter": newsletter.name},
                _("Do not forward this mail: the link answers in your name."),
            ],
            button=Button(
                pgettext("verb", "Answer"),
                absolute_url(
                    "participation:answer",
                    newsletter=newsletter.slug,
                    consultation=consultation.slug,
                    token=tokens.answer_token(consultation.pk, person.pk),
                ),
            ),
        )
    return True
