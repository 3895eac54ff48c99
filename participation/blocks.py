"""What participation adds to campaigns, through ``campaigns.extensions``.

- ``{{ consultation.SLUG }}``: the consultation's questions, each option a link
  that opens the reader's answer page with it chosen. The links carry one slot per
  consultation, ``consultation.<id>.reader``, filled per recipient with their
  answer token (``tokens.answer_token``); with no reader (previews, tests, the
  archive) it holds ``tokens.NOBODY`` and leads to the public page.
- ``{{ goal.SLUG }}``: a progress bar and the goal's call to action, whose link is
  the goal's counted redirect (and, in mail, tracked like any link).
- ``{{ referral_url }}`` and ``{{ forward_url }}``: the reader's referral link and
  the "forward to a friend" page of the campaign, both carrying the reader's
  referral code (which lets nobody act as them) and nothing else of theirs.
"""

import html
import re
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns import extensions
from campaigns.rendering import Block
from newsletter.links import absolute_url
from subscribers import tokens as subscriber_tokens

from . import selectors, tokens
from .models import Consultation, Goal, GoalKind, QuestionKind

READER_TAG = re.compile(r"^consultation\.(\d+)\.reader$")
LINK_STYLE = (
    "display:block;padding:10px 14px;border:1px solid #0b5cad;border-radius:6px;"
    "text-decoration:none;color:#0b5cad;font-weight:600;"
)
# Layouts style every table of the body (borders, full width): a block's own say otherwise.
TABLE_STYLE = "border-collapse:collapse;border:0;"
CELL_STYLE = "border:0;"
SCALE_STYLE = (
    "display:inline-block;min-width:36px;padding:8px 0;border:1px solid #0b5cad;"
    "border-radius:6px;text-align:center;text-decoration:none;color:#0b5cad;font-weight:600;"
)


def _text(value: str) -> str:
    """Editor-written text in the block's markup: escaped, and never read as a merge tag."""
    return html.escape(value, quote=True).replace("{", "&#123;").replace("}", "&#125;")


def reader_tag(consultation: Consultation) -> str:
    return f"consultation.{consultation.pk}.reader"


def answer_base(consultation: Consultation) -> str:
    """The answer page's address up to the token: the same for every reader."""
    return settings.SITE_URL + reverse(
        "participation:answer",
        kwargs={
            "newsletter": consultation.newsletter.slug,
            "consultation": consultation.slug,
            "token": "TOKEN",
        },
    ).removesuffix("TOKEN/")


def consultation_block(newsletter, key: str) -> Block:
    name = f"consultation.{key}"
    consultation = (
        Consultation.objects.filter(newsletter=newsletter, slug=key)
        .select_related("newsletter")
        .first()
    )
    if consultation is None:
        return Block(name=name, error=f"there is no consultation “{key}” in this newsletter.")
    with translation.override(newsletter.language):
        return Block(
            name=name,
            mjml=_consultation_mjml(consultation),
            reader_tags=(reader_tag(consultation),),
        )


def _consultation_mjml(consultation: Consultation) -> str:
    base = answer_base(consultation)
    slot = f'{{{{ {reader_tag(consultation)}|default:"{tokens.NOBODY}" }}}}'
    parts = [
        f'<mj-divider border-width="1px" border-color="#d0d7de" padding="16px 24px 0" />'
        f'<mj-text css-class="crier-text"><h2>{_text(consultation.title)}</h2>'
        + (f"<p>{_text(consultation.description)}</p>" if consultation.description else "")
        + "</mj-text>"
    ]
    for question in consultation.questions.prefetch_related("choices"):
        link = f"{base}{slot}/?q={question.pk}"
        items = [f'<p style="margin:16px 0 8px;"><strong>{_text(question.prompt)}</strong></p>']
        choices = list(question.choices.all())
        if question.kind == QuestionKind.SCALE:
            cells = "".join(
                f'<td style="{CELL_STYLE}padding:0 6px 0 0;"><a href="{link}&amp;c={choice.pk}" '
                f'style="{SCALE_STYLE}">{_text(choice.label)}</a></td>'
                for choice in choices
            )
            items.append(
                f'<table role="presentation" style="{TABLE_STYLE}width:auto;"><tr>{cells}</tr>'
                f'</table><p style="margin:6px 0 0;font-size:14px;">'
                f"{_('1 is the lowest, 5 the highest.')}</p>"
            )
        elif question.kind == QuestionKind.TEXT:
            items.append(
                f'<p style="margin:0 0 8px;"><a href="{link}" style="{LINK_STYLE}">'
                f"{_('Write your answer')}</a></p>"
            )
        else:
            items += [
                f'<p style="margin:0 0 8px;"><a href="{link}&amp;c={choice.pk}" '
                f'style="{LINK_STYLE}">{_text(choice.label)}</a></p>'
                for choice in choices
            ]
            if question.kind == QuestionKind.MULTIPLE:
                items.append(
                    f'<p style="margin:0;font-size:14px;">'
                    f"{_('Choose one here; you can add others on the next page.')}</p>"
                )
        parts.append(f'<mj-text css-class="crier-text">{"".join(items)}</mj-text>')
    note = _(
        "A tap opens a page where you confirm your answer, and can add a comment. "
        "The same link lets you change it later."
    )
    if consultation.public_results:
        results = absolute_url(
            "participation:consultation",
            newsletter=consultation.newsletter.slug,
            consultation=consultation.slug,
        )
        note += f' <a href="{results}">{_("See the results")}</a>'
    parts.append(
        f'<mj-text css-class="crier-text"><p style="font-size:14px;margin:12px 0 0;">{note}</p>'
        "</mj-text>"
    )
    return "\n".join(parts)


def format_amount(goal: Goal, value: Decimal) -> str:
    whole = value == value.to_integral_value()
    number = f"{value:,.0f}" if whole else f"{value:,.2f}"
    if goal.kind == GoalKind.MONEY:
        return f"{number} {goal.currency}".strip()
    if goal.kind == GoalKind.SPONSORS:
        return ngettext("%(number)s sponsor", "%(number)s sponsors", int(value)) % {
            "number": number
        }
    return ngettext("%(number)s volunteer", "%(number)s volunteers", int(value)) % {
        "number": number
    }


def goal_block(newsletter, key: str) -> Block:
    name = f"goal.{key}"
    goal = Goal.objects.filter(newsletter=newsletter, slug=key).select_related("newsletter").first()
    if goal is None:
        return Block(name=name, error=f"there is no goal “{key}” in this newsletter.")
    with translation.override(newsletter.language):
        return Block(name=name, mjml=_goal_mjml(goal))


def _goal_mjml(goal: Goal) -> str:
    percent = goal.percent
    cells = []
    if percent:
        cells.append(
            f'<td style="{CELL_STYLE}padding:0;width:{percent}%;background-color:#2e7d32;'
            'height:14px;border-radius:7px 0 0 7px;font-size:0;line-height:0;">&nbsp;</td>'
        )
    if percent < 100:
        cells.append(
            f'<td style="{CELL_STYLE}padding:0;background-color:#d0d7de;height:14px;'
            'border-radius:0 7px 7px 0;font-size:0;line-height:0;">&nbsp;</td>'
        )
    progress = _("%(current)s of %(target)s (%(percent)s %%)") % {
        "current": format_amount(goal, goal.current),
        "target": format_amount(goal, goal.target),
        "percent": percent,
    }
    cta = absolute_url("participation:goal_cta", newsletter=goal.newsletter.slug, goal=goal.slug)
    return "\n".join(
        [
            '<mj-divider border-width="1px" border-color="#d0d7de" padding="16px 24px 0" />',
            f'<mj-text css-class="crier-text"><h2>{_text(goal.title)}</h2>'
            + (f"<p>{_text(goal.description)}</p>" if goal.description else "")
            + f'<table role="presentation" width="100%" style="{TABLE_STYLE}width:100%;">'
            f"<tr>{''.join(cells)}</tr></table>"
            f'<p style="margin:6px 0 0;">{_text(progress)}</p></mj-text>',
            f'<mj-button href="{cta}" background-color="#0b5cad" color="#ffffff" align="left" '
            f'padding="12px 24px">{_text(goal.cta_label)}</mj-button>',
        ]
    )


def _newsletter_page(newsletter) -> str:
    return absolute_url("subscribers:newsletter", slug=newsletter.slug)


def reader_values(campaign, used: frozenset[str]):
    """The filler of this campaign's reader slots, or None when it uses none of ours."""
    consultations = [int(found.group(1)) for name in used if (found := READER_TAG.match(name))]
    referral = "referral_url" in used
    forward = "forward_url" in used
    if not (consultations or referral or forward):
        return None
    newsletter_id = campaign.newsletter_id
    join = _newsletter_page(campaign.newsletter) + "?ref="
    forward_page = (
        absolute_url(
            "participation:forward", newsletter=campaign.newsletter.slug, campaign=campaign.slug
        )
        + "?ref="
    )
    signers = {
        f"consultation.{consultation}.reader": tokens.answer_signer(consultation)
        for consultation in consultations
    }
    coder = subscriber_tokens.referral_coder(newsletter_id)

    def fill(subscriber_id: int, delivery_id: int) -> dict[str, str]:
        values = {name: sign(subscriber_id) for name, sign in signers.items()}
        if referral or forward:
            code = coder(subscriber_id)
            if referral:
                values["referral_url"] = join + code
            if forward:
                values["forward_url"] = forward_page + code
        return values

    return fill


def report_sections(campaign) -> list[extensions.ReportSection]:
    """The results of each consultation the campaign carries, for its editors."""
    kind = extensions.block_kinds().get("consultation")
    keys = kind.keys_in(campaign.body) if kind else []
    consultations = Consultation.objects.filter(newsletter=campaign.newsletter_id, slug__in=keys)
    return [
        extensions.ReportSection(
            template="participation/dashboard/_results.html",
            context={
                "newsletter": campaign.newsletter,
                "consultation": consultation,
                "results": selectors.results(consultation, public=False, texts_limit=20),
                "in_report": True,
            },
        )
        for consultation in consultations
    ]


def archive_links(campaign) -> list[extensions.ArchiveLink]:
    kind = extensions.block_kinds().get("consultation")
    keys = kind.keys_in(campaign.body) if kind else []
    return [
        extensions.ArchiveLink(
            label=_("Results: %(title)s") % {"title": consultation.title},
            url=consultation.get_absolute_url(),
        )
        for consultation in Consultation.objects.filter(
            newsletter=campaign.newsletter_id, slug__in=keys, public_results=True
        ).select_related("newsletter")
    ]


def register() -> None:
    extensions.register_block(
        extensions.BlockKind(
            "consultation", "a consultation's questions, answered from the mail", consultation_block
        )
    )
    extensions.register_block(
        extensions.BlockKind(
            "goal", "a support goal's progress bar and its call to action", goal_block
        )
    )
    extensions.register_reader_link(
        extensions.ReaderLink(
            "referral_url",
            "the reader's referral link: people who subscribe through it are counted as theirs",
            _newsletter_page,
        )
    )
    extensions.register_reader_link(
        extensions.ReaderLink(
            "forward_url",
            "a page to forward this issue to a friend (the web version and the subscribe form)",
            _newsletter_page,
        )
    )
    extensions.register_reader_values(reader_values)
    extensions.register_report_sections(report_sections)
    extensions.register_archive_links(archive_links)
