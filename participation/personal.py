"""What participation keeps about a person, and shows them, through ``subscribers.extensions``.

- Answers tied to a person (individual tracking only) are in their data export,
  on their page in the dashboard, and lose the tie (and their text) on erasure;
  the counts stay.
- Their referral choices are in the export and go on erasure; the preference
  center shows their referral link, how many it brought, and the consultations
  open to them with their own answer links.
"""

from django.utils.translation import gettext as _

from newsletter.links import absolute_url
from subscribers import extensions
from subscribers import tokens as subscriber_tokens
from subscribers.models import Subscriber
from subscribers.signals import subscriber_erased

from . import selectors, tokens
from .models import Answer, Referral, ReferrerProfile
from .services import consultations, referrals


def _answers(subscriber, newsletter=None):
    answers = (
        Answer.objects.filter(subscriber=subscriber)
        .select_related("question__consultation__newsletter")
        .prefetch_related("question__choices")
    )
    if newsletter is not None:
        answers = answers.filter(question__consultation__newsletter=newsletter)
    return answers.order_by("answered_at", "id")


def _labels(answer: Answer) -> str:
    labels = {choice.pk: choice.label for choice in answer.question.choices.all()}
    return ", ".join(labels.get(pk, "?") for pk in answer.choices) or answer.text


def export(subscriber) -> dict:
    profiles = ReferrerProfile.objects.filter(subscriber=subscriber).select_related("newsletter")
    return {
        "consultation_answers": [
            {
                "newsletter": answer.question.consultation.newsletter.name,
                "consultation": answer.question.consultation.title,
                "question": answer.question.prompt,
                "answer": _labels(answer),
                "comment": answer.comment,
                "answered_at": answer.answered_at.isoformat(),
                "changed_at": answer.changed_at.isoformat() if answer.changed_at else None,
            }
            for answer in _answers(subscriber)
        ],
        "referrals": [
            {
                "newsletter": profile.newsletter.name,
                "shown_among_top_referrers": profile.show_publicly,
                "display_name": profile.display_name,
                "people_brought": Referral.objects.filter(
                    newsletter=profile.newsletter, referrer=subscriber, confirmed_at__isnull=False
                ).count(),
            }
            for profile in profiles
        ],
    }


def forget_erased_contact(sender, contact, **kwargs) -> None:
    """The contact's answers lose their tie (and text) and its referral choices go; the
    counts stay. Runs inside the erasure's transaction (``subscriber_erased``)."""
    consultations.forget_answers_of(contact)
    referrals.forget_referrer(contact)


def facts(subscriber, newsletter) -> extensions.Facts | None:
    answers = list(_answers(subscriber, newsletter))
    if not answers:
        return None
    return extensions.Facts(
        title=_("Consultation answers"),
        header=[_("Consultation"), _("Question"), _("Answer"), _("Comment"), _("When")],
        rows=[
            [
                answer.question.consultation.title,
                answer.question.prompt,
                _labels(answer),
                answer.comment or "—",
                (answer.changed_at or answer.answered_at).strftime("%Y-%m-%d %H:%M"),
            ]
            for answer in answers
        ],
        note=_(
            "Kept with the person because the newsletter tracks individually; under the "
            "aggregate policy no answer is tied to anyone."
        ),
    )


def preference_section(subscriber, newsletter, token: str) -> extensions.PreferenceSection:
    claim = subscriber_tokens.Claim(subscriber.pk, newsletter.pk)
    profile = ReferrerProfile.objects.filter(newsletter=newsletter, subscriber=subscriber).first()
    return extensions.PreferenceSection(
        template="participation/public/_preferences.html",
        context={
            "newsletter": newsletter,
            "token": token,
            "referral_url": absolute_url("subscribers:newsletter", slug=newsletter.slug)
            + "?ref="
            + subscriber_tokens.referral_code(claim),
            "brought": Referral.objects.filter(
                newsletter=newsletter, referrer=subscriber, confirmed_at__isnull=False
            ).count(),
            "profile": profile,
            "consultations": [
                (
                    consultation,
                    absolute_url(
                        "participation:answer",
                        newsletter=newsletter.slug,
                        consultation=consultation.slug,
                        token=tokens.answer_token(consultation.pk, subscriber.pk),
                    ),
                )
                for consultation in selectors.open_consultations(newsletter)
            ],
        },
    )


def register() -> None:
    extensions.register_personal_data(
        extensions.PersonalData(key="participation", export=export, facts=facts)
    )
    subscriber_erased.connect(
        forget_erased_contact, sender=Subscriber, dispatch_uid="participation.forget_erased"
    )
    extensions.register_preference_section(preference_section)
