"""The dashboard's rule builder: rows of (field, operator, value) to rules JSON and back.

The builder edits one level: "all" or "any" of conditions, each of which may be
negated. Deeper rules (groups in groups) are edited as JSON in the same form; the
compiler (``rules``) checks both the same way. What each field offers (its operators,
and the kind of value they take) comes from the compiler's own tables, so the builder
cannot offer an operator the compiler would refuse.
"""

import json
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from newsletter.models import Newsletter, TrackingPolicy
from subscribers.models import ConsentSource, FieldType

from .rules import BUILTINS, FIELD_OPS

OP_LABELS = {
    "eq": pgettext_lazy("segment operator", "is"),
    "neq": pgettext_lazy("segment operator", "is not"),
    "in": pgettext_lazy("segment operator", "is one of"),
    "contains": pgettext_lazy("segment operator", "contains"),
    "starts_with": pgettext_lazy("segment operator", "starts with"),
    "is_set": pgettext_lazy("segment operator", "has a value"),
    "is_not_set": pgettext_lazy("segment operator", "has no value"),
    "lt": pgettext_lazy("segment operator", "is less than"),
    "lte": pgettext_lazy("segment operator", "is at most"),
    "gt": pgettext_lazy("segment operator", "is more than"),
    "gte": pgettext_lazy("segment operator", "is at least"),
    "on": pgettext_lazy("segment operator", "is on"),
    "before": pgettext_lazy("segment operator", "is before"),
    "after": pgettext_lazy("segment operator", "is after"),
    "in_last_days": pgettext_lazy("segment operator", "in the last … days"),
    "more_than_days_ago": pgettext_lazy("segment operator", "more than … days ago"),
    "is_true": pgettext_lazy("segment operator", "is yes"),
    "is_false": pgettext_lazy("segment operator", "is no"),
    "member": pgettext_lazy("segment operator", "is on (any status)"),
    "confirmed": pgettext_lazy("segment operator", "is confirmed on"),
    "pending": pgettext_lazy("segment operator", "is pending on"),
    "unsubscribed": pgettext_lazy("segment operator", "unsubscribed from"),
    "ever": pgettext_lazy("segment operator", "ever"),
    "never": pgettext_lazy("segment operator", "never"),
    "at_least": pgettext_lazy("segment operator", "at least … times"),
    "campaign": pgettext_lazy("segment operator", "the campaign"),
}
BUILTIN_LABELS = {
    "list": _("List"),
    "subscribed_at": _("Subscribed"),
    "confirmed_at": _("Confirmed"),
    "language": _("Language"),
    "consent_source": _("Joined through"),
    "bounced": _("Bounced"),
    "opened": _("Opened"),
    "clicked": _("Clicked"),
}
NO_VALUE = {"is_set", "is_not_set", "is_true", "is_false", "ever", "never"}
DAYS = {"in_last_days", "more_than_days_ago", "at_least"}


@dataclass
class Choice:
    """One field the builder offers, with its operators and what its value looks like."""

    name: str
    label: str
    ops: list[tuple[str, str]]
    kind: str  # text, number, date or select
    options: list[tuple[str, str]] = field(default_factory=list)

    def value_kind(self, op: str) -> str:
        if op in NO_VALUE:
            return "none"
        if op in DAYS:
            return "number"
        return self.kind


def catalogue(newsletter: Newsletter) -> list[Choice]:
    """What the builder offers for this newsletter: built-ins, then its custom fields.
    Opens and clicks only where tracking is individual (the compiler refuses them
    elsewhere)."""
    lists = [(ml.slug, ml.name) for ml in newsletter.lists.all()]
    sources = [(value, str(label)) for value, label in ConsentSource.choices]
    campaigns = [
        (str(pk), name)
        for pk, name in newsletter.campaigns.exclude(sent_at=None)
        .order_by("-sent_at")
        .values_list("pk", "name")[:50]
    ]
    kinds = {
        "list": ("select", lists),
        "subscribed_at": ("date", []),
        "confirmed_at": ("date", []),
        "language": ("text", []),
        "consent_source": ("select", sources),
        "bounced": ("number", []),
        "opened": ("select", campaigns),
        "clicked": ("select", campaigns),
    }
    individual = newsletter.tracking_policy == TrackingPolicy.INDIVIDUAL
    choices = []
    for name, builtin in BUILTINS.items():
        if name in ("opened", "clicked") and not individual:
            continue
        kind, options = kinds[name]
        ops = [(op, str(OP_LABELS[op])) for op in builtin.ops if op != "in"]
        choices.append(Choice(name, str(BUILTIN_LABELS[name]), ops, kind, options))
    for definition in newsletter.field_definitions.all():
        kind = {FieldType.NUMBER: "number", FieldType.DATE: "date"}.get(definition.type, "text")
        options = []
        if definition.type == FieldType.CHOICE:
            kind, options = "select", [(choice, choice) for choice in definition.choices]
        ops = [(op, str(OP_LABELS[op])) for op in FIELD_OPS[definition.type] if op != "in"]
        choices.append(Choice(definition.key, definition.label, ops, kind, options))
    return choices


@dataclass
class Row:
    field: str = ""
    op: str = ""
    value: str = ""
    negate: bool = False


def rows_from_rules(rules: object) -> tuple[str, list[Row]] | None:
    """The builder's view of ``rules``, or None when they are deeper than it edits."""
    if not isinstance(rules, dict) or len(rules) != 1:
        return None
    match = next(iter(rules))
    if match not in ("all", "any") or not isinstance(rules[match], list):
        return None
    rows = []
    for node in rules[match]:
        negate = isinstance(node, dict) and set(node) == {"not"}
        condition = node["not"] if negate else node
        if not isinstance(condition, dict) or "field" not in condition:
            return None
        value = condition.get("value", "")
        if isinstance(value, list | dict):
            return None
        rows.append(
            Row(
                str(condition.get("field", "")),
                str(condition.get("op", "")),
                str(value).lower() if isinstance(value, bool) else str(value),
                negate,
            )
        )
    return match, rows


def _typed(choice: Choice | None, op: str, raw: str) -> object:
    """A form's text as the JSON value the compiler expects: numbers for days and
    counts, a campaign's id, otherwise the text (the compiler checks it by type)."""
    raw = raw.strip()
    kind = choice.value_kind(op) if choice else "text"
    if kind == "none":
        return None
    if (kind == "number" or (choice and choice.name in ("opened", "clicked"))) and raw:
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() else number
    return raw


def rules_from_rows(match: str, rows: list[Row], choices: list[Choice]) -> dict:
    by_name = {choice.name: choice for choice in choices}
    nodes = []
    for row in rows:
        condition: dict = {"field": row.field, "op": row.op}
        value = _typed(by_name.get(row.field), row.op, row.value)
        if value is not None:
            condition["value"] = value
        nodes.append({"not": condition} if row.negate else condition)
    return {match if match in ("all", "any") else "all": nodes}


def pretty(rules: object) -> str:
    return json.dumps(rules, indent=2, ensure_ascii=False)
