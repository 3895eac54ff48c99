"""Custom fields: their definitions, and the one place a value is checked and normalised.

Every path that writes ``Subscriber.attributes`` (dashboard, API, import, preference
center, public form) passes the new values through ``FieldSchema.clean`` first, so a
defined field always holds a value of its type, in one form: segments compare them in
SQL without casting guesses (``audiences.rules``). Keys nobody defined stay free.

Errors name the attribute (``attributes.sdk``), and nothing is written when one value
is wrong.
"""

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from newsletter.models import Newsletter

from .models import FieldDefinition, FieldType

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Names a segment rule gives to what every contact has (``audiences.rules``): a field
# called like one of them could not be told apart in a rule.
RESERVED_KEYS = frozenset(
    {
        "email",
        "name",
        "status",
        "list",
        "language",
        "subscribed_at",
        "confirmed_at",
        "consent_source",
        "bounced",
        "opened",
        "clicked",
    }
)
TEXT_MAX = 500
CHOICES_MAX = 100
YES = frozenset({"yes", "y", "true", "1", "on", "oui"})
NO = frozenset({"no", "n", "false", "0", "off", "non"})


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(gettext("not text"))
    text = str(value).strip()
    if len(text) > TEXT_MAX:
        raise ValueError(gettext("longer than %(max)d characters") % {"max": TEXT_MAX})
    return text


def _number(value: object) -> int | float:
    if isinstance(value, bool):
        raise ValueError(gettext("not a number"))
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else None
        except ValueError:
            raise ValueError(gettext("not a number")) from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(gettext("not a number"))
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def parse_date(value: object) -> date:
    """An ISO date (``2026-03-01``); a date-time keeps its date. Raises ValueError."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (date.fromisoformat, lambda text: datetime.fromisoformat(text).date()):
            try:
                return parse(text)
            except ValueError:
                pass
    raise ValueError(gettext("not a date (YYYY-MM-DD)"))


def _yes_no(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in YES | NO:
        return value.strip().lower() in YES
    raise ValueError(gettext("not yes or no"))


@dataclass(frozen=True)
class FieldSchema:
    """A newsletter's field definitions, read once for many values (an import's rows)."""

    fields: Mapping[str, FieldDefinition]

    @classmethod
    def of(cls, newsletter: Newsletter) -> "FieldSchema":
        return cls({field.key: field for field in newsletter.field_definitions.all()})

    def by_label(self) -> dict[str, str]:
        """Keys by their label and key, case-insensitive: how an import's columns find them."""
        names = {field.label.strip().lower(): key for key, field in self.fields.items()}
        return {**names, **{key: key for key in self.fields}}

    def value(self, field: FieldDefinition, raw: object) -> object:
        """The normalised value, or None for "no value"; raises ValueError saying why."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if field.type == FieldType.TEXT:
            return _text(raw)
        if field.type == FieldType.NUMBER:
            return _number(raw)
        if field.type == FieldType.DATE:
            return parse_date(raw).isoformat()
        if field.type == FieldType.YES_NO:
            return _yes_no(raw)
        wanted = _text(raw).lower()
        for choice in field.choices:
            if choice.lower() == wanted:
                return choice
        raise ValueError(gettext("not one of %(choices)s") % {"choices": ", ".join(field.choices)})

    def clean(self, attributes: Mapping, *, match_labels: bool = False) -> dict:
        """The attributes with each defined field's value normalised; a value that is
        empty (or None) stays None, which a merge patch reads as "remove". Raises one
        ValidationError naming every bad ``attributes.<key>``; undefined keys pass as
        they are. ``match_labels``: a key equal to a field's label (an import's column
        "Python SDK") is stored under the field's key."""
        if not isinstance(attributes, Mapping):
            raise ValidationError({"attributes": gettext("Attributes must be a JSON object.")})
        names = self.by_label() if match_labels else {}
        cleaned: dict = {}
        errors: dict[str, str] = {}
        for name, raw in attributes.items():
            key = names.get(str(name).strip().lower(), name)
            field = self.fields.get(key)
            if field is None:
                cleaned[name] = raw
                continue
            try:
                cleaned[key] = self.value(field, raw)
            except ValueError as error:
                errors[f"attributes.{key}"] = gettext("%(label)s: %(problem)s (%(value)s).") % {
                    "label": field.label,
                    "problem": error,
                    "value": repr(raw)[:60],
                }
        if errors:
            raise ValidationError(errors)
        return cleaned


def clean_attributes(*, newsletter: Newsletter, attributes: Mapping) -> dict:
    return FieldSchema.of(newsletter).clean(attributes)


# Definitions


def _check_definition(field: FieldDefinition) -> None:
    errors: dict[str, str] = {}
    if not KEY_PATTERN.match(field.key or ""):
        errors["key"] = gettext(
            "Use lower-case letters, digits and _, starting with a letter (at most 50)."
        )
    elif field.key in RESERVED_KEYS:
        errors["key"] = gettext("%(key)s is a built-in rule name: choose another key.") % {
            "key": field.key
        }
    if not field.label.strip():
        errors["label"] = gettext("Give the field a label.")
    if field.type not in FieldType.values:
        errors["type"] = gettext("Choose one of the types.")
    if field.type == FieldType.CHOICE:
        choices = field.choices
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, str) and c.strip() for c in choices)
        ):
            errors["choices"] = gettext("A choice field needs at least one choice.")
        elif len({c.strip().lower() for c in choices}) != len(choices):
            errors["choices"] = gettext("Each choice once.")
        elif len(choices) > CHOICES_MAX:
            errors["choices"] = gettext("At most %(max)d choices.") % {"max": CHOICES_MAX}
        else:
            field.choices = [c.strip() for c in choices]
    else:
        field.choices = []
    if field.editable_by_reader:
        field.shown_to_reader = True
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def field_create(
    *,
    newsletter: Newsletter,
    key: str,
    label: str,
    type: str = FieldType.TEXT,
    description: str = "",
    choices: Iterable[str] = (),
    shown_to_reader: bool = False,
    editable_by_reader: bool = False,
    on_public_form: bool = False,
) -> FieldDefinition:
    """A new field; the values already stored under ``key`` are checked against its type
    first, so a field never starts out holding values it would refuse."""
    field = FieldDefinition(
        newsletter=newsletter,
        key=(key or "").strip(),
        label=label.strip(),
        type=type,
        description=description,
        choices=list(choices),
        shown_to_reader=shown_to_reader,
        editable_by_reader=editable_by_reader,
        on_public_form=on_public_form,
        position=newsletter.field_definitions.count(),
    )
    _check_definition(field)
    _check_stored_values(field)
    try:
        with transaction.atomic():
            field.save()
    except IntegrityError:
        raise ValidationError(
            {"key": gettext("This newsletter already has a field with this key.")}
        ) from None
    return field


def _check_stored_values(field: FieldDefinition, shown: int = 3) -> None:
    """Refuse a definition that the contacts' stored values do not fit, naming a few."""
    schema = FieldSchema({field.key: field})
    stored = field.newsletter.contacts.filter(attributes__has_key=field.key).values_list(
        "email", f"attributes__{field.key}"
    )
    bad = []
    for email, value in stored.iterator(chunk_size=2000):
        try:
            schema.value(field, value)
        except ValueError:
            bad.append(f"{email}: {value!r}"[:80])
            if len(bad) >= shown:
                break
    if bad:
        raise ValidationError(
            {
                "type": gettext("Values already stored under %(key)s do not fit: %(bad)s.")
                % {"key": field.key, "bad": "; ".join(bad)}
            }
        )


EDITABLE = (
    "label",
    "description",
    "choices",
    "shown_to_reader",
    "editable_by_reader",
    "on_public_form",
    "position",
)


@transaction.atomic
def field_update(*, field: FieldDefinition, **changes: object) -> FieldDefinition:
    """Change what ``EDITABLE`` names; key and type stay (see the model)."""
    for name in ("key", "type"):
        if name in changes and changes.pop(name) != getattr(field, name):
            raise ValidationError(
                {name: gettext("A field's %(name)s cannot change.") % {"name": name}}
            )
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"field_update() cannot change {', '.join(sorted(unknown))}")
    field = FieldDefinition.objects.select_for_update().get(pk=field.pk)
    for name, value in changes.items():
        setattr(field, name, value)
    _check_definition(field)
    field.save()
    return field


@transaction.atomic
def field_delete(*, field: FieldDefinition) -> None:
    """Forget the definition; the values stay in the contacts' attributes, as free keys.
    A segment that names the field then fails with an error naming it, and is fixed
    (or the field defined again) before it can count or send."""
    field.delete()
