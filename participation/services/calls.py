"""Open calls: submissions from anyone, moderated, inserted into a draft, published.

A submission's status is a state machine with one writer (``_move``) and a table
of the moves allowed; every change of status goes through it. What the contributor
wrote is made plain text on the way in; where it goes into a campaign it is also
escaped for Markdown (or HTML, for an MJML body) and cannot carry a merge tag.
"""

import html
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from campaigns import services as campaigns
from campaigns.models import BodyFormat, Campaign, Status
from newsletter.models import Newsletter
from subscribers.ledger import Evidence
from subscribers.services import normalize_email

from .. import tasks
from ..models import Call, Submission, SubmissionStatus
from .text import clean_line, clean_text, for_markdown, unique_slug

TITLE_MAX = 200
CREDIT_MAX = 100
LINK_MAX = 500

# Which statuses each move may start from: the only writer of Submission.status.
MOVES = {
    SubmissionStatus.ACCEPTED: {
        SubmissionStatus.SUBMITTED,
        SubmissionStatus.CHANGES_REQUESTED,
        SubmissionStatus.REJECTED,
    },
    SubmissionStatus.REJECTED: {
        SubmissionStatus.SUBMITTED,
        SubmissionStatus.CHANGES_REQUESTED,
        SubmissionStatus.ACCEPTED,
    },
    SubmissionStatus.CHANGES_REQUESTED: {SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED},
    SubmissionStatus.SUBMITTED: {SubmissionStatus.CHANGES_REQUESTED},
    SubmissionStatus.PUBLISHED: {SubmissionStatus.ACCEPTED},
}


class CallClosed(Exception):
    def __init__(self, call: Call) -> None:
        super().__init__("closed")
        self.call = call


class MoveRefused(ValidationError):
    pass


def text_max() -> int:
    return settings.CALL_TEXT_MAX_CHARS


@transaction.atomic
def call_create(
    *,
    newsletter: Newsletter,
    created_by,
    title: str,
    description: str,
    slug: str = "",
    closes_at: datetime | None = None,
    consent_text: str = "",
    require_proof_of_work: bool = False,
) -> Call:
    title = clean_line(title)
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    if closes_at is not None and closes_at <= timezone.now():
        raise ValidationError({"closes_at": _("Choose a time in the future.")})
    call = Call(
        newsletter=newsletter,
        created_by=created_by,
        title=title,
        slug=unique_slug(Call.objects.filter(newsletter=newsletter), slug, title),
        description=clean_text(description),
        closes_at=closes_at,
        require_proof_of_work=require_proof_of_work,
    )
    if consent_text.strip():
        call.consent_text = clean_text(consent_text)
    if not call.description:
        raise ValidationError({"description": _("Say what you are asking for.")})
    call.save()
    return call


@transaction.atomic
def call_update(
    *,
    call: Call,
    title: str,
    slug: str,
    description: str,
    closes_at: datetime | None,
    consent_text: str,
    require_proof_of_work: bool,
) -> Call:
    title = clean_line(title)
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    if not clean_text(description):
        raise ValidationError({"description": _("Say what you are asking for.")})
    if not clean_text(consent_text):
        raise ValidationError({"consent_text": _("Contributors must know what they agree to.")})
    others = Call.objects.filter(newsletter=call.newsletter).exclude(pk=call.pk)
    call.title = title
    call.slug = unique_slug(others, slug, title)
    call.description = clean_text(description)
    call.closes_at = closes_at
    call.consent_text = clean_text(consent_text)
    call.require_proof_of_work = require_proof_of_work
    call.save()
    return call


@transaction.atomic
def call_close(*, call: Call) -> Call:
    if call.is_open:
        call.closes_at = timezone.now()
        call.save(update_fields=["closes_at", "updated_at"])
    return call


def _contribution(*, title: str, link: str, text: str, credit_name: str) -> dict:
    """The contributor's fields, plain and within their limits; errors by field."""
    errors = {}
    title, credit_name, link = clean_line(title), clean_line(credit_name), (link or "").strip()
    text = clean_text(text)
    if not title:
        errors["title"] = _("Give your contribution a title.")
    elif len(title) > TITLE_MAX:
        errors["title"] = _("At most %(count)s characters.") % {"count": TITLE_MAX}
    if not text:
        errors["text"] = _("Tell us about it in a few lines.")
    elif len(text) > text_max():
        errors["text"] = _("At most %(count)s characters; this is %(length)s.") % {
            "count": text_max(),
            "length": len(text),
        }
    if not credit_name:
        errors["credit_name"] = _("Say how to credit you.")
    elif len(credit_name) > CREDIT_MAX:
        errors["credit_name"] = _("At most %(count)s characters.") % {"count": CREDIT_MAX}
    if link:
        try:
            URLValidator(schemes=["http", "https"])(link)
        except ValidationError:
            errors["link"] = _("Give a full web address starting with https://.")
        if len(link) > LINK_MAX:
            errors["link"] = _("At most %(count)s characters.") % {"count": LINK_MAX}
        # Braces would read as a merge tag once the link is in a campaign.
        link = link.replace("{", "%7B").replace("}", "%7D")
    if errors:
        raise ValidationError(errors)
    return {"title": title, "link": link, "text": text, "credit_name": credit_name}


def _consent(call: Call, consent: bool, evidence: Evidence | None) -> dict:
    if not consent:
        raise ValidationError({"consent": _("Tick the box to agree to publication.")})
    record = evidence is not None and call.newsletter.record_consent_ip
    return {
        "consent_wording": call.consent_text,
        "consented_at": timezone.now(),
        "consent_ip": evidence.ip_address if record else None,
        "consent_user_agent": evidence.user_agent[:500] if record else "",
    }


@transaction.atomic
def submission_create(
    *,
    call: Call,
    title: str,
    text: str,
    credit_name: str,
    consent: bool,
    link: str = "",
    email: str = "",
    notify_on_publish: bool = False,
    evidence: Evidence | None = None,
) -> Submission:
    """A contribution, while the call is open (CallClosed after its deadline)."""
    call = Call.objects.select_related("newsletter").get(pk=call.pk)
    if not call.is_open:
        raise CallClosed(call)
    fields = _contribution(title=title, link=link, text=text, credit_name=credit_name)
    address = ""
    if email.strip():
        try:
            address = normalize_email(email)
        except ValidationError:
            raise ValidationError(
                {"email": _("Enter a valid email address, like name@example.org.")}
            ) from None
    elif notify_on_publish:
        raise ValidationError({"email": _("Give an address to be told when it is published.")})
    return Submission.objects.create(
        call=call,
        email=address,
        notify_on_publish=notify_on_publish and bool(address),
        **fields,
        **_consent(call, consent, evidence),
    )


@transaction.atomic
def submission_revise(
    *,
    submission: Submission,
    revision: int,
    title: str,
    text: str,
    credit_name: str,
    consent: bool,
    link: str = "",
    evidence: Evidence | None = None,
) -> Submission:
    """The contributor's edit after changes were asked: back to the moderators.

    The edit link names the revision it was made for; once used (or when the
    editors changed their mind) it changes nothing.
    """
    submission = (
        Submission.objects.select_for_update()
        .select_related("call__newsletter")
        .get(pk=submission.pk)
    )
    if submission.revision != revision or submission.status != SubmissionStatus.CHANGES_REQUESTED:
        raise MoveRefused(_("This link was already used, or the editors no longer wait for it."))
    fields = _contribution(title=title, link=link, text=text, credit_name=credit_name)
    for name, value in {**fields, **_consent(submission.call, consent, evidence)}.items():
        setattr(submission, name, value)
    submission.revision += 1
    _move(submission, SubmissionStatus.SUBMITTED)
    return submission


def _move(submission: Submission, to: str) -> None:
    """The one place a submission's status changes (the row is locked by the caller)."""
    if submission.status not in MOVES[to]:
        raise MoveRefused(
            _("It is “%(status)s”: it cannot become “%(wanted)s”.")
            % {
                "status": submission.get_status_display(),
                "wanted": SubmissionStatus(to).label,
            }
        )
    submission.status = to
    submission.save()


def _locked(submission: Submission) -> Submission:
    return (
        Submission.objects.select_for_update()
        .select_related("call__newsletter")
        .get(pk=submission.pk)
    )


def _moderated(submission: Submission, user, note: str) -> None:
    submission.note = clean_text(note)
    submission.moderated_by = user
    submission.moderated_at = timezone.now()


@transaction.atomic
def submission_accept(*, submission: Submission, user, note: str = "") -> Submission:
    submission = _locked(submission)
    _moderated(submission, user, note)
    _move(submission, SubmissionStatus.ACCEPTED)
    return submission


@transaction.atomic
def submission_reject(*, submission: Submission, user, note: str = "") -> Submission:
    """Refused; a contributor who left an address is told, with the note if any."""
    submission = _locked(submission)
    if submission.campaign_id is not None:
        raise MoveRefused(_("It is in a draft: take it out of the draft first."))
    _moderated(submission, user, note)
    _move(submission, SubmissionStatus.REJECTED)
    if submission.email:
        tasks.tell_contributor.delay_on_commit(submission.pk, "rejected")
    return submission


@transaction.atomic
def submission_request_changes(*, submission: Submission, user, note: str) -> Submission:
    """Ask the contributor for a change: they get the note and a link to edit it."""
    submission = _locked(submission)
    if not submission.email:
        raise ValidationError(
            {"note": _("The contributor left no address: there is nobody to ask.")}
        )
    if not clean_text(note):
        raise ValidationError({"note": _("Say what should change.")})
    if submission.campaign_id is not None:
        raise MoveRefused(_("It is in a draft: take it out of the draft first."))
    _moderated(submission, user, note)
    _move(submission, SubmissionStatus.CHANGES_REQUESTED)
    tasks.tell_contributor.delay_on_commit(submission.pk, "changes_requested")
    return submission


def _block(call: Call, submissions: list[Submission], body_format: str) -> str:
    """The accepted contributions as a part of the campaign, each credited."""
    with translation.override(call.newsletter.language):
        if body_format == BodyFormat.MJML:
            items = []
            for submission in submissions:
                title = _html(submission.title)
                if submission.link:
                    title = f'<a href="{_html(submission.link)}">{title}</a>'
                credit = _("Contributed by %(name)s") % {"name": submission.credit_name}
                items.append(
                    f"<p><strong>{title}</strong><br><em>{_html(credit)}</em></p>"
                    f"<p>{_html(submission.text).replace(chr(10), '<br>')}</p>"
                )
            return (
                '\n<mj-section mj-class="crier-section" css-class="crier-section"><mj-column>'
                '<mj-text mj-class="crier-text" css-class="crier-text">'
                f"<h2>{_html(call.title)}</h2>"
                + "".join(items)
                + "</mj-text></mj-column></mj-section>\n"
            )
        parts = ["\n\n---\n", f"## {for_markdown(call.title)}"]
        for submission in submissions:
            title = for_markdown(submission.title)
            if submission.link:
                title = f"[{title}](<{submission.link.replace('>', '%3E')}>)"
            credit = _("Contributed by %(name)s") % {"name": submission.credit_name}
            parts.append(f"**{title}**  \n*{for_markdown(credit)}*")
            parts.append("\n\n".join(for_markdown(line) for line in submission.text.split("\n\n")))
        return "\n\n".join(parts) + "\n"


def _html(value: str) -> str:
    return html.escape(value, quote=True).replace("{", "&#123;").replace("}", "&#125;")


@transaction.atomic
def submissions_insert(*, call: Call, campaign: Campaign, user) -> int:
    """Put every accepted contribution not yet placed at the end of a draft, credited.

    The draft goes through ``campaign_update`` like any edit, so it is checked and
    re-rendered; the contributions remember the campaign, to be marked published
    (and their contributors told) when it is sent.
    """
    if campaign.newsletter_id != call.newsletter_id:
        raise ValidationError({"campaign": _("This campaign belongs to another newsletter.")})
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Status.DRAFT:
        raise ValidationError({"campaign": _("Contributions can only go into a draft.")})
    waiting = list(
        Submission.objects.select_for_update()
        .filter(call=call, status=SubmissionStatus.ACCEPTED, campaign__isnull=True)
        .order_by("created_at", "id")
    )
    if not waiting:
        raise ValidationError({"campaign": _("No accepted contribution is waiting.")})
    campaigns.campaign_update(
        campaign=campaign, body=campaign.body.rstrip() + _block(call, waiting, campaign.body_format)
    )
    Submission.objects.filter(pk__in=[submission.pk for submission in waiting]).update(
        campaign=campaign, updated_at=timezone.now()
    )
    return len(waiting)


@transaction.atomic
def submission_take_out(*, submission: Submission) -> Submission:
    """Forget which draft an accepted contribution went into (the editor removed it
    from the text): it waits again, and will not be announced as published."""
    submission = _locked(submission)
    if submission.campaign_id is None or submission.status != SubmissionStatus.ACCEPTED:
        raise MoveRefused(_("It is not waiting in a draft."))
    submission.campaign = None
    submission.save(update_fields=["campaign", "updated_at"])
    return submission


@transaction.atomic
def contributions_publish(*, campaign: Campaign) -> int:
    """The campaign was sent: its contributions are published, and their contributors
    who asked are told (after the commit, by a task)."""
    published = list(
        Submission.objects.select_for_update().filter(
            campaign=campaign, status=SubmissionStatus.ACCEPTED
        )
    )
    now = timezone.now()
    for submission in published:
        submission.published_at = now
        _move(submission, SubmissionStatus.PUBLISHED)
        if submission.notify_on_publish and submission.email:
            tasks.tell_contributor.delay_on_commit(submission.pk, "published")
    return len(published)


@transaction.atomic
def submission_forget(*, submission: Submission) -> Submission:
    """A contributor's request to be forgotten: their address and consent evidence go;
    what was published stays published, under the credit they chose."""
    submission = _locked(submission)
    submission.email = ""
    submission.notify_on_publish = False
    submission.consent_ip = None
    submission.consent_user_agent = ""
    submission.save()
    return submission
