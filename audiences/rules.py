"""Segment rules: checked, then compiled to ONE parameterised SQL condition.

The rules are JSON written by a person (the dashboard's builder, the API). No text of
theirs ever becomes SQL: field keys and operators are looked up in the tables below
(built-in fields, the newsletter's ``FieldDefinition`` rows, ``OPERATORS``), and every
value (a list id, a number, a date, a pattern) is a bound parameter. listmonk's raw-SQL
subscriber queries are the pattern this avoids.

The compiled condition reads one contact row aliased ``s``
(``subscribers_subscriber s``); ``Compiled.where()`` is what anyone else embeds::

    compiled = compile_rules(segment.rules, newsletter=newsletter)
    cursor.execute(f"SELECT count(*) FROM subscribers_subscriber s WHERE {compiled.sql}",
                   compiled.params)

Its parameters are named (``%(r0)s``…), so the condition joins a statement that has
named parameters of its own (the send path's audience, ``delivery.audience``); a prefix
keeps two compiled conditions apart. ``Compiled.positional()`` gives ``%s`` form for
``RawSQL`` (``matching``).

Engagement (opened, clicked) is evaluated only where the newsletter's tracking policy
is individual, and never for a person who opted out of individual tracking: for them
it is SQL NULL, "unknown", so neither "opened X" nor "not opened X" picks them, while
"opened X or on list Y" still does through the list.

Errors name the part of the rules: ``rules.all[2].field: no field "sdk" in this
newsletter``, all of them at once, as one ``ValidationError`` keyed by path.
"""

import json
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext

from newsletter.models import Newsletter, TrackingPolicy
from subscribers.fields import FieldSchema, parse_date
from subscribers.models import (
    ConsentAction,
    ConsentSource,
    FieldDefinition,
    FieldType,
    Subscriber,
    SubscriptionStatus,
)

MAX_CONDITIONS = 50
MAX_DEPTH = 6
MAX_DAYS = 36500
MAX_IN = 100


@dataclass(frozen=True)
class Compiled:
    """A boolean SQL condition over the contact row ``s``, and its named parameters."""

    sql: str
    params: dict[str, object] = field(default_factory=dict)
    uses_engagement: bool = False

    def positional(self) -> tuple[str, list]:
        """The same condition with ``%s`` placeholders, for Django's ``RawSQL``."""
        order: list = []

        def placeholder(match: re.Match) -> str:
            order.append(self.params[match.group(1)])
            return "%s"

        return re.sub(r"%\((\w+)\)s", placeholder, self.sql), order


class _Builder:
    """Collects parameters and errors while walking the rules."""

    def __init__(self, newsletter: Newsletter, prefix: str, now: datetime) -> None:
        self.newsletter = newsletter
        self.prefix = prefix
        self.now = now
        self.zone = zoneinfo.ZoneInfo(newsletter.timezone)
        self.params: dict[str, object] = {}
        self.errors: dict[str, list[str]] = {}
        self.conditions = 0
        self.uses_engagement = False
        self.schema = FieldSchema.of(newsletter)

    def param(self, value: object) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def day_start(self, day: date) -> datetime:
        """Midnight of ``day`` in the newsletter's time zone: where its dates begin."""
        return datetime.combine(day, time.min, tzinfo=self.zone)

    def today(self) -> date:
        return self.now.astimezone(self.zone).date()


class _Invalid(Exception):
    """A condition that cannot compile; its error is already recorded."""


def compile_rules(
    rules: object, *, newsletter: Newsletter, prefix: str = "r", now: datetime | None = None
) -> Compiled:
    """Check ``rules`` against ``newsletter`` and compile them; raises ValidationError
    naming every bad part (``rules.all[0].value``). ``now`` anchors "in the last N days"
    (tests pass a fixed one)."""
    builder = _Builder(newsletter, prefix, now or timezone.now())
    try:
        sql = _node(builder, rules, "rules", depth=0)
    except _Invalid:
        sql = ""
    if builder.conditions > MAX_CONDITIONS:
        builder.error(
            "rules",
            gettext("At most %(max)d conditions in a segment.") % {"max": MAX_CONDITIONS},
        )
    if builder.errors:
        raise ValidationError(builder.errors)
    return Compiled(sql, builder.params, builder.uses_engagement)


def check_rules(rules: object, *, newsletter: Newsletter) -> None:
    """Raise ValidationError if the rules cannot compile for this newsletter."""
    compile_rules(rules, newsletter=newsletter)


def matching(rules: object, *, newsletter: Newsletter) -> QuerySet[Subscriber]:
    """The newsletter's contacts the rules pick, whatever their consent (a queryset:
    samples, exports, automations). Who may be *mailed* is the send path's question
    (``delivery.audience``), which applies the consent rules on top."""
    sql, params = compile_rules(rules, newsletter=newsletter).positional()
    picked = RawSQL(
        f"SELECT s.id FROM subscribers_subscriber s WHERE s.newsletter_id = %s AND ({sql})",
        [newsletter.pk, *params],
    )
    return Subscriber.objects.filter(Q(newsletter=newsletter), Q(pk__in=picked))


# Groups


def _node(b: _Builder, node: object, path: str, depth: int) -> str:
    if depth > MAX_DEPTH:
        b.error(path, gettext("Groups nest at most %(max)d deep.") % {"max": MAX_DEPTH})
        raise _Invalid
    if not isinstance(node, dict):
        b.error(path, gettext("Expected an object: a group (all, any, not) or a condition."))
        raise _Invalid
    kinds = [key for key in ("all", "any", "not", "field") if key in node]
    if len(kinds) != 1:
        b.error(path, gettext("Expected exactly one of all, any, not or field."))
        raise _Invalid
    kind = kinds[0]
    if kind == "not":
        inner = _node(b, node["not"], f"{path}.not", depth + 1)
        return f"NOT ({inner})"
    if kind == "field":
        b.conditions += 1
        return _condition(b, node, path)
    items = node[kind]
    if not isinstance(items, list):
        b.error(f"{path}.{kind}", gettext("Expected a list of groups or conditions."))
        raise _Invalid
    parts, invalid = [], False
    for index, item in enumerate(items):
        try:
            parts.append(_node(b, item, f"{path}.{kind}[{index}]", depth + 1))
        except _Invalid:
            invalid = True  # go on: every error is reported at once
    if invalid:
        raise _Invalid
    if not parts:
        # An empty "all" picks everyone, an empty "any" no one (as in logic).
        return "TRUE" if kind == "all" else "FALSE"
    joiner = " AND " if kind == "all" else " OR "
    return "(" + joiner.join(f"({part})" for part in parts) + ")"


# Conditions


def _condition(b: _Builder, node: dict, path: str) -> str:
    name = node.get("field")
    op = node.get("op")
    if not isinstance(name, str):
        b.error(f"{path}.field", gettext("Expected the name of a field."))
        raise _Invalid
    builtin = BUILTINS.get(name)
    if builtin is not None:
        ops = builtin.ops
    else:
        definition = b.schema.fields.get(name)
        if definition is None:
            b.error(
                f"{path}.field",
                gettext('no field "%(name)s" in this newsletter') % {"name": name},
            )
            raise _Invalid
        ops = FIELD_OPS[definition.type]
    if op not in ops:
        b.error(
            f"{path}.op",
            gettext('"%(op)s" does not fit %(field)s: use one of %(ops)s')
            % {"op": op, "field": name, "ops": ", ".join(ops)},
        )
        raise _Invalid
    value = node.get("value")
    try:
        if builtin is not None:
            return builtin.compile(b, op, value)
        return _custom(b, definition, op, value)
    except ValueError as error:
        b.error(f"{path}.value", str(error))
        raise _Invalid from None


def _days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DAYS:
        raise ValueError(
            gettext("Expected a whole number of days from 1 to %(max)d.") % {"max": MAX_DAYS}
        )
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(gettext("Expected a whole number, 1 or more."))
    return value


def _date(value: object) -> date:
    try:
        return parse_date(value)
    except ValueError:
        raise ValueError(
            gettext("%(value)s is not a date (YYYY-MM-DD).") % {"value": json.dumps(value)}
        ) from None


def _string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(gettext("Expected some text."))
    return value.strip()


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > MAX_IN:
        raise ValueError(gettext("Expected a list of 1 to %(max)d values.") % {"max": MAX_IN})
    return [_string(item) for item in value]


def _like(text: str) -> str:
    """``text`` as a literal in a LIKE pattern: its own % and _ mean themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Timestamps (a contact's creation, a subscription's confirmation) against days in the
# newsletter's time zone.
DATE_OPS = ("on", "before", "after", "in_last_days", "more_than_days_ago")


def _timestamp(b: _Builder, column: str, op: str, value: object) -> str:
    if op == "in_last_days":
        return f"{column} >= {b.param(b.now - timedelta(days=_days(value)))}"
    if op == "more_than_days_ago":
        return f"{column} < {b.param(b.now - timedelta(days=_days(value)))}"
    day = _date(value)
    if op == "before":
        return f"{column} < {b.param(b.day_start(day))}"
    if op == "after":
        return f"{column} >= {b.param(b.day_start(day + timedelta(days=1)))}"
    start, end = b.param(b.day_start(day)), b.param(b.day_start(day + timedelta(days=1)))
    return f"({column} >= {start} AND {column} < {end})"


# Built-in fields


@dataclass(frozen=True)
class Builtin:
    ops: tuple[str, ...]
    compile: Callable[[_Builder, str, object], str]


LIST_OPS = ("member", "confirmed", "pending", "unsubscribed")


def _list(b: _Builder, op: str, value: object) -> str:
    slug = _string(value)
    mailing_list = b.newsletter.lists.filter(slug=slug).first()
    if mailing_list is None:
        raise ValueError(gettext('no list "%(slug)s" in this newsletter') % {"slug": slug})
    status = "" if op == "member" else f" AND sub.status = {b.param(SubscriptionStatus(op))}"
    return (
        "EXISTS (SELECT 1 FROM subscribers_subscription sub WHERE sub.subscriber_id = s.id"
        f" AND sub.mailing_list_id = {b.param(mailing_list.pk)}{status})"
    )


def _subscribed_at(b: _Builder, op: str, value: object) -> str:
    return _timestamp(b, "s.created_at", op, value)


def _confirmed_at(b: _Builder, op: str, value: object) -> str:
    return (
        "EXISTS (SELECT 1 FROM subscribers_subscription sub WHERE sub.subscriber_id = s.id"
        f" AND {_timestamp(b, 'sub.confirmed_at', op, value)})"
    )


def _language(b: _Builder, op: str, value: object) -> str:
    if op == "in":
        return f"lower(s.language) = ANY({b.param([code.lower() for code in _strings(value)])})"
    code = b.param(_string(value).lower())
    return f"lower(s.language) = {code}" if op == "eq" else f"lower(s.language) <> {code}"


# How a person came in: the consent events that start a subscription.
JOINING = [ConsentAction.SUBSCRIBED.value, ConsentAction.IMPORTED.value]


def _consent_source(b: _Builder, op: str, value: object) -> str:
    source = _string(value)
    if source not in ConsentSource.values:
        raise ValueError(
            gettext("Expected one of %(sources)s.") % {"sources": ", ".join(ConsentSource.values)}
        )
    exists = (
        "EXISTS (SELECT 1 FROM subscribers_consentevent ce WHERE ce.subscriber_id = s.id"
        f" AND ce.action = ANY({b.param(JOINING)}) AND ce.source = {b.param(source)})"
    )
    return exists if op == "eq" else f"NOT {exists}"


def _table(app: str, model: str) -> str:
    """A table of an app this one must not import (delivery, tracking): by its model."""
    return apps.get_model(app, model)._meta.db_table


def _bounced(b: _Builder, op: str, value: object) -> str:
    rows = (
        f"FROM {_table('delivery', 'Delivery')} d"
        " WHERE d.subscriber_id = s.id AND d.bounced_at IS NOT NULL"
    )
    if op == "ever":
        return f"EXISTS (SELECT 1 {rows})"
    if op == "never":
        return f"NOT EXISTS (SELECT 1 {rows})"
    if op == "in_last_days":
        since = b.param(b.now - timedelta(days=_days(value)))
        return f"EXISTS (SELECT 1 {rows} AND d.bounced_at >= {since})"
    return f"(SELECT count(*) {rows}) >= {b.param(_count(value))}"


def _engagement(kind: str) -> Callable[[_Builder, str, object], str]:
    columns = (
        ("e.first_human_click_at",)
        if kind == "clicked"
        else ("e.first_human_open_at", "e.first_human_click_at")
    )

    def compile_engagement(b: _Builder, op: str, value: object) -> str:
        if b.newsletter.tracking_policy != TrackingPolicy.INDIVIDUAL:
            raise ValueError(
                gettext(
                    "Opens and clicks of a person are known only when the newsletter's "
                    "tracking policy is individual."
                )
            )
        b.uses_engagement = True
        if op == "campaign":
            Campaign = apps.get_model("campaigns", "Campaign")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(gettext("Expected a campaign's id."))
            if not Campaign.objects.filter(pk=value, newsletter=b.newsletter).exists():
                raise ValueError(gettext("no campaign %(id)s in this newsletter") % {"id": value})
            did = " OR ".join(f"{column} IS NOT NULL" for column in columns)
            scope = f"e.campaign_id = {b.param(value)} AND ({did})"
        else:
            since = b.param(b.now - timedelta(days=_days(value)))
            scope = "(" + " OR ".join(f"{column} >= {since}" for column in columns) + ")"
        # NULL ("unknown") for a person who opted out: see the module's docstring.
        return (
            "CASE WHEN s.tracking_opt_out THEN NULL ELSE EXISTS (SELECT 1 FROM"
            f" {_table('tracking', 'Engagement')} e WHERE e.subscriber_id = s.id AND {scope})"
            " END"
        )

    return compile_engagement


BUILTINS: dict[str, Builtin] = {
    "list": Builtin(LIST_OPS, _list),
    "subscribed_at": Builtin(DATE_OPS, _subscribed_at),
    "confirmed_at": Builtin(DATE_OPS, _confirmed_at),
    "language": Builtin(("eq", "neq", "in"), _language),
    "consent_source": Builtin(("eq", "neq"), _consent_source),
    "bounced": Builtin(("ever", "never", "in_last_days", "at_least"), _bounced),
    "opened": Builtin(("campaign", "in_last_days"), _engagement("opened")),
    "clicked": Builtin(("campaign", "in_last_days"), _engagement("clicked")),
}


# Custom fields: operators per type


PRESENCE = ("is_set", "is_not_set")
FIELD_OPS: dict[str, tuple[str, ...]] = {
    FieldType.TEXT: ("eq", "neq", "contains", "starts_with", *PRESENCE),
    FieldType.NUMBER: ("eq", "neq", "lt", "lte", "gt", "gte", *PRESENCE),
    FieldType.DATE: ("on", "before", "after", "in_last_days", *PRESENCE),
    FieldType.YES_NO: ("is_true", "is_false", *PRESENCE),
    FieldType.CHOICE: ("eq", "neq", "in", *PRESENCE),
}
COMPARISONS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _custom(b: _Builder, definition: FieldDefinition, op: str, value: object) -> str:
    key = b.param(definition.key)
    stored = f"(s.attributes -> {key})"
    if op in PRESENCE:
        return f"{stored} IS {'NOT ' if op == 'is_set' else ''}NULL"

    def holds(typed: object) -> str:
        # Containment of {key: value}: served by the attributes' GIN index.
        return f"s.attributes @> {b.param(json.dumps({definition.key: typed}))}::jsonb"

    def typed(raw: object) -> object:
        try:
            value = b.schema.value(definition, raw)
        except ValueError as error:
            raise ValueError(
                gettext("%(value)s: %(problem)s") % {"value": json.dumps(raw), "problem": error}
            ) from None
        if value is None:  # nothing, or only spaces: "has no value" is is_not_set
            raise ValueError(gettext("Expected a value."))
        return value

    kind = definition.type
    if op == "is_true" or op == "is_false":
        return holds(op == "is_true")
    if op == "in":
        values = [typed(item) for item in _strings(value)]
        return f"COALESCE(s.attributes ->> {key} = ANY({b.param(values)}), FALSE)"
    if op in ("eq", "neq"):
        condition = holds(typed(value))
        return condition if op == "eq" else f"NOT ({condition})"
    if kind == FieldType.TEXT:
        text = _like(_string(value))
        pattern = f"%{text}%" if op == "contains" else f"{text}%"
        return f"COALESCE(s.attributes ->> {key}, '') ILIKE {b.param(pattern)}"
    if kind == FieldType.NUMBER:
        number = typed(value)
        # CASE, not AND: PostgreSQL may evaluate AND's sides in any order, and the cast
        # must only ever see numbers.
        return (
            f"CASE WHEN jsonb_typeof({stored}) = 'number' THEN ({stored})::numeric"
            f" {COMPARISONS[op]} {b.param(number)} ELSE FALSE END"
        )
    # Dates are ISO strings (normalised on write): compared as text, byte by byte.
    as_text = f'(s.attributes ->> {key}) COLLATE "C"'
    if op == "in_last_days":
        since = (b.today() - timedelta(days=_days(value))).isoformat()
        until = b.param(b.today().isoformat())
        return f"COALESCE({as_text} BETWEEN {b.param(since)} AND {until}, FALSE)"
    day = b.param(_date(value).isoformat())
    comparison = {"on": "=", "before": "<", "after": ">"}[op]
    return f"COALESCE({as_text} {comparison} {day}, FALSE)"
