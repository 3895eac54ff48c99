"""Support goals: progress reported by editors, the API or a signed webhook; CTA clicks.

Crier handles no payment. Each report is a ``GoalUpdate`` row; the goal's
``current`` total changes in the same transaction, under a lock on the goal, so
concurrent reports add up. A report with an ``external_id`` (a donation platform's
event id) is applied once: sent again, it changes nothing.
"""

import json
import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from newsletter.models import Newsletter, TrackingPolicy
from webhooks import signing

from .. import tokens
from ..models import Goal, GoalKind, GoalUpdate, GoalUpdateKind, GoalUpdateSource
from .text import clean_line, clean_text, unique_slug

LARGEST = Decimal("999999999999.99")


class SignatureRefused(Exception):
    """The webhook's signature is missing, wrong or too old."""


def amount_of(value) -> Decimal:
    """A positive or negative amount with at most two decimals, from a number or a string."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": _("Give a number, like 25 or 12.50.")}) from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({"amount": _("Give a number with at most two decimals.")})
    if abs(amount) > LARGEST:
        raise ValidationError({"amount": _("This number is too large.")})
    return amount.quantize(Decimal("0.01"))


def _check(kind: str, currency: str, target, cta_url: str) -> tuple[str, Decimal]:
    if kind not in GoalKind.values:
        raise ValidationError({"kind": _("Choose money, sponsors or volunteers.")})
    currency = currency.strip().upper()
    if kind == GoalKind.MONEY and (len(currency) != 3 or not currency.isalpha()):
        raise ValidationError({"currency": _("Give the currency's three-letter code, like EUR.")})
    if kind != GoalKind.MONEY:
        currency = ""
    target = amount_of(target)
    if target <= 0:
        raise ValidationError({"target": _("The target must be more than zero.")})
    if not cta_url.lower().startswith(("https://", "http://")):
        raise ValidationError({"cta_url": _("Give a full web address starting with https://.")})
    return currency, target


@transaction.atomic
def goal_create(
    *,
    newsletter: Newsletter,
    title: str,
    kind: str,
    target,
    cta_label: str,
    cta_url: str,
    currency: str = "",
    slug: str = "",
    description: str = "",
    closes_at: datetime | None = None,
) -> Goal:
    title = clean_line(title)
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    currency, target = _check(kind, currency, target, cta_url)
    if not clean_line(cta_label):
        raise ValidationError({"cta_label": _("Say what the button says, like “Donate”.")})
    goal = Goal(
        newsletter=newsletter,
        title=title,
        slug=unique_slug(Goal.objects.filter(newsletter=newsletter), slug, title),
        description=clean_text(description),
        kind=kind,
        currency=currency,
        target=target,
        cta_label=clean_line(cta_label),
        cta_url=cta_url.strip(),
        closes_at=closes_at,
        webhook_key=secrets.token_urlsafe(24)[:32],
    )
    goal.full_clean(exclude=["current", "webhook_key"])
    goal.save()
    return goal


@transaction.atomic
def goal_update(
    *,
    goal: Goal,
    title: str,
    slug: str,
    kind: str,
    target,
    cta_label: str,
    cta_url: str,
    currency: str = "",
    description: str = "",
    closes_at: datetime | None = None,
) -> Goal:
    title = clean_line(title)
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    currency, target = _check(kind, currency, target, cta_url)
    if not clean_line(cta_label):
        raise ValidationError({"cta_label": _("Say what the button says, like “Donate”.")})
    others = Goal.objects.filter(newsletter=goal.newsletter).exclude(pk=goal.pk)
    goal.title, goal.slug = title, unique_slug(others, slug, title)
    goal.kind, goal.currency, goal.target = kind, currency, target
    goal.cta_label, goal.cta_url = clean_line(cta_label), cta_url.strip()
    goal.description, goal.closes_at = clean_text(description), closes_at
    goal.full_clean(exclude=["current", "webhook_key"])
    goal.save()
    return goal


def goal_progress(
    *,
    goal: Goal,
    kind: str,
    amount,
    source: str,
    actor: str = "",
    note: str = "",
    external_id: str = "",
) -> GoalUpdate | None:
    """Add to the total, or set it; None when ``external_id`` was already applied."""
    if kind not in GoalUpdateKind.values:
        raise ValidationError({"kind": _("Say whether to add to the total or set it.")})
    amount = amount_of(amount)
    external_id = external_id.strip()[:200]
    try:
        with transaction.atomic():
            locked = Goal.objects.select_for_update().get(pk=goal.pk)
            total = amount if kind == GoalUpdateKind.SET else locked.current + amount
            if total < 0:
                raise ValidationError({"amount": _("The total cannot go below zero.")})
            if total > LARGEST:
                raise ValidationError({"amount": _("This number is too large.")})
            update = GoalUpdate.objects.create(
                goal=locked,
                kind=kind,
                amount=amount,
                total=total,
                source=source,
                actor=actor[:200],
                note=clean_line(note)[:300],
                external_id=external_id,
            )
            Goal.objects.filter(pk=goal.pk).update(current=total, updated_at=timezone.now())
    except IntegrityError:
        # The same event again (the platform retried): applied once already.
        if external_id and GoalUpdate.objects.filter(goal=goal, external_id=external_id).exists():
            return None
        raise
    goal.current = total
    return update


def goal_webhook_receive(
    *, key: str, body: bytes, signature: str
) -> tuple[Goal, GoalUpdate | None]:
    """A donation platform (or a small script) reports progress to the goal's webhook URL.

    The body is JSON: ``{"id": "evt_1", "amount": "25.00", "mode": "add"}`` (``mode``
    ``set`` gives the new total; ``note`` is optional), signed like Crier's own
    webhooks: ``Crier-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
    Raises Goal.DoesNotExist, SignatureRefused or ValidationError (by field).
    """
    goal = Goal.objects.get(webhook_key=key)
    secret = tokens.goal_webhook_secret(goal.webhook_key, goal.webhook_version)
    if not signing.verify(secret=secret, body=body, header=signature):
        raise SignatureRefused
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({"body": _("The body is not JSON.")}) from None
    if not isinstance(payload, dict):
        raise ValidationError({"body": _("The body must be a JSON object.")})
    event_id = payload.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise ValidationError({"id": _("Give the event's id, so that a retry is applied once.")})
    note = payload.get("note", "")
    update = goal_progress(
        goal=goal,
        kind=payload.get("mode", GoalUpdateKind.ADD),
        amount=payload.get("amount"),
        source=GoalUpdateSource.WEBHOOK,
        actor="webhook",
        note=note if isinstance(note, str) else "",
        external_id=event_id,
    )
    return goal, update


@transaction.atomic
def goal_webhook_rotate(*, goal: Goal) -> Goal:
    """A new webhook secret; the old one stops working at once."""
    Goal.objects.filter(pk=goal.pk).update(webhook_version=F("webhook_version") + 1)
    goal.refresh_from_db(fields=["webhook_version"])
    return goal


def goal_cta_click(*, goal: Goal, machine: bool) -> bool:
    """One click on the call to action: counted, in aggregate and never per person,
    unless tracking is off or a machine (a link scanner, a preview bot) followed it."""
    if machine or goal.newsletter.tracking_policy == TrackingPolicy.OFF:
        return False
    Goal.objects.filter(pk=goal.pk).update(cta_clicks=F("cta_clicks") + 1)
    return True
