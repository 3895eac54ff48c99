"""Consultations: create and change them, and record answers, one per person per question.

An answer is recorded only by a POST through the reader's signed link (a link
scanner's GET records nothing, see ``views.answer``). Under the newsletter's
aggregate tracking policy (and when tracking is off) the answer row holds a keyed
digest instead of the person: nothing ties it to them. Under the individual policy
it is on their record, unless they opted out of individual tracking. The counts
pages read (``Question.respondents``, ``Choice.answers``) change in the same
transaction as the answer, under a lock on the question, so that they stay exact
when two answers, or the same one twice, arrive at once.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from newsletter.models import Newsletter, TrackingPolicy

from .. import selectors, tokens
from ..models import Answer, Choice, Consultation, Question, QuestionKind
from .text import clean_line, clean_text, unique_slug

MAX_CHOICES = 10
ANSWER_TEXT_MAX = 1000
COMMENT_MAX = 1000
SCALE = [str(value) for value in range(1, 6)]


@dataclass(frozen=True)
class QuestionSpec:
    kind: str
    prompt: str
    options: list[str] = field(default_factory=list)


class ConsultationClosed(Exception):
    def __init__(self, consultation: Consultation) -> None:
        super().__init__("closed")
        self.consultation = consultation


def _check_question(spec: QuestionSpec, *, field_name: str = "prompt") -> QuestionSpec:
    prompt = clean_line(spec.prompt)
    if not prompt:
        raise ValidationError({field_name: _("Write the question.")})
    if len(prompt) > 300:
        raise ValidationError({field_name: _("A question has at most 300 characters.")})
    if spec.kind not in QuestionKind.values:
        raise ValidationError({"kind": _("Choose single choice, multiple choice, scale or text.")})
    options = [clean_line(option) for option in spec.options]
    options = [option for option in options if option]
    if spec.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        if len(options) < 2:
            raise ValidationError({"options": _("Give at least two options, one per line.")})
        if len(options) > MAX_CHOICES:
            raise ValidationError(
                {"options": _("Give at most %(count)s options.") % {"count": MAX_CHOICES}}
            )
        if len({option.lower() for option in options}) != len(options):
            raise ValidationError({"options": _("Two options are the same.")})
        if any(len(option) > 200 for option in options):
            raise ValidationError({"options": _("An option has at most 200 characters.")})
    elif spec.kind == QuestionKind.SCALE:
        options = SCALE
    else:
        options = []
    return QuestionSpec(kind=spec.kind, prompt=prompt, options=options)


def _add_question(consultation: Consultation, spec: QuestionSpec) -> Question:
    position = consultation.questions.count()
    question = Question.objects.create(
        consultation=consultation, position=position, kind=spec.kind, prompt=spec.prompt
    )
    Choice.objects.bulk_create(
        Choice(question=question, position=index, label=label)
        for index, label in enumerate(spec.options)
    )
    return question


def _check_dates(closes_at: datetime | None, *, created: bool) -> None:
    if created and closes_at is not None and closes_at <= timezone.now():
        raise ValidationError({"closes_at": _("Choose a time in the future.")})


@transaction.atomic
def consultation_create(
    *,
    newsletter: Newsletter,
    created_by,
    title: str,
    questions: list[QuestionSpec],
    slug: str = "",
    description: str = "",
    public_results: bool = False,
    closes_at: datetime | None = None,
) -> Consultation:
    """A consultation with its first questions; raises ValidationError by field."""
    title = clean_line(title)
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    if not questions:
        raise ValidationError({"prompt": _("Write the question.")})
    checked = [_check_question(spec) for spec in questions]
    _check_dates(closes_at, created=True)
    consultation = Consultation.objects.create(
        newsletter=newsletter,
        created_by=created_by,
        title=title,
        slug=unique_slug(Consultation.objects.filter(newsletter=newsletter), slug, title),
        description=clean_text(description),
        public_results=public_results,
        closes_at=closes_at,
    )
    for spec in checked:
        _add_question(consultation, spec)
    return consultation


@transaction.atomic
def consultation_update(
    *,
    consultation: Consultation,
    title: str,
    slug: str,
    description: str = "",
    public_results: bool = False,
    closes_at: datetime | None = None,
) -> Consultation:
    """Change what a consultation says and when it closes (its questions apart)."""
    title = clean_line(title)
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    others = Consultation.objects.filter(newsletter=consultation.newsletter).exclude(
        pk=consultation.pk
    )
    consultation.title = title
    consultation.slug = unique_slug(others, slug, title)
    consultation.description = clean_text(description)
    consultation.public_results = public_results
    consultation.closes_at = closes_at
    consultation.save()
    return consultation


@transaction.atomic
def consultation_close(*, consultation: Consultation) -> Consultation:
    if consultation.is_open:
        consultation.closes_at = timezone.now()
        consultation.save(update_fields=["closes_at", "updated_at"])
    return consultation


@transaction.atomic
def question_add(*, consultation: Consultation, spec: QuestionSpec) -> Question:
    Consultation.objects.select_for_update().get(pk=consultation.pk)
    return _add_question(consultation, _check_question(spec))


@transaction.atomic
def question_remove(*, question: Question) -> None:
    """Only a question nobody answered: removing answers would change what people said."""
    question = Question.objects.select_for_update().get(pk=question.pk)
    if question.respondents or question.answer_rows.exists():
        raise ValidationError(_("People answered this question: it can only be kept."))
    if question.consultation.questions.count() == 1:
        raise ValidationError(_("A consultation needs at least one question."))
    question.delete()


@dataclass(frozen=True)
class Recorded:
    answer: Answer
    created: bool
    changed: bool


def _check_answer(question: Question, choices: list[int], text: str) -> tuple[list[int], str]:
    known = list(question.choices.values_list("pk", flat=True))
    wanted = list(dict.fromkeys(choices))
    if any(choice not in known for choice in wanted):
        raise ValidationError({"choice": _("This option is not one of the question's.")})
    if question.kind == QuestionKind.TEXT:
        text = clean_text(text)
        if not text:
            raise ValidationError({"text": _("Write your answer.")})
        if len(text) > ANSWER_TEXT_MAX:
            raise ValidationError(
                {"text": _("At most %(count)s characters.") % {"count": ANSWER_TEXT_MAX}}
            )
        return [], text
    if not wanted:
        raise ValidationError({"choice": _("Choose an answer.")})
    if question.kind != QuestionKind.MULTIPLE and len(wanted) > 1:
        raise ValidationError({"choice": _("Choose one answer only.")})
    return sorted(wanted, key=known.index), ""


@transaction.atomic
def answer_record(
    *,
    consultation: Consultation,
    subscriber_id: int,
    question: Question,
    choices: list[int],
    text: str = "",
    comment: str = "",
) -> Recorded:
    """Record or change one person's answer; the same answer again changes nothing.

    ``subscriber_id`` comes from the reader's signed link. Raises ConsultationClosed
    after the deadline and ValidationError (by field) for an answer that does not fit.
    """
    if not consultation.is_open:
        raise ConsultationClosed(consultation)
    if question.consultation_id != consultation.pk:
        raise ValidationError({"question": _("This question is not part of the consultation.")})
    reader = selectors.reader(consultation.newsletter, subscriber_id)
    if reader is None:
        raise ValidationError({"question": _("This link is not valid for this newsletter.")})
    choices, text = _check_answer(question, choices, text)
    comment = clean_text(comment)
    if len(comment) > COMMENT_MAX:
        raise ValidationError(
            {"comment": _("At most %(count)s characters.") % {"count": COMMENT_MAX}}
        )
    question = Question.objects.select_for_update().get(pk=question.pk)
    now = timezone.now()
    individual = (
        consultation.newsletter.tracking_policy == TrackingPolicy.INDIVIDUAL
        and not reader.tracking_opt_out
    )
    stamp = now if individual else now.replace(minute=0, second=0, microsecond=0)
    digest = tokens.respondent(question.pk, subscriber_id)
    answer = Answer.objects.filter(question=question, respondent=digest).first()
    if answer is None:
        answer = Answer.objects.create(
            question=question,
            respondent=digest,
            subscriber_id=reader.pk if individual else None,
            choices=choices,
            text=text,
            comment=comment,
            answered_at=stamp,
        )
        Question.objects.filter(pk=question.pk).update(respondents=F("respondents") + 1)
        Choice.objects.filter(pk__in=choices).update(answers=F("answers") + 1)
        return Recorded(answer, created=True, changed=False)
    if (answer.choices, answer.text, answer.comment) == (choices, text, comment):
        return Recorded(answer, created=False, changed=False)
    Choice.objects.filter(pk__in=set(answer.choices) - set(choices)).update(
        answers=F("answers") - 1
    )
    Choice.objects.filter(pk__in=set(choices) - set(answer.choices)).update(
        answers=F("answers") + 1
    )
    answer.choices, answer.text, answer.comment = choices, text, comment
    answer.subscriber_id = reader.pk if individual else None
    answer.changed_at = stamp
    answer.save(update_fields=["choices", "text", "comment", "subscriber", "changed_at"])
    return Recorded(answer, created=False, changed=True)


def forget_answers_of(subscriber) -> int:
    """Erasure: the answers stay counted, nothing left of the person (text, comment, tie)."""
    return Answer.objects.filter(subscriber=subscriber).update(subscriber=None, comment="", text="")
