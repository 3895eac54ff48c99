"""Writes and counts for segments, and the guard on deleting a field a segment names.

A segment's rules are checked by compiling them (``rules.compile_rules``) before
anything is saved, so a stored segment always compiled once; what can break it later
(a list or campaign deleted, the tracking policy changed) is reported by name when
it is counted or sent, never silently read as "everyone".
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, QuerySet
from django.utils.translation import gettext

from newsletter.models import Newsletter
from subscribers import fields
from subscribers.models import FieldDefinition, Subscriber

from .models import Segment
from .rules import Compiled, compile_rules, matching

SAMPLE_SIZE = 10
COUNT_MATCHING = """
SELECT count(*) FROM subscribers_subscriber s
WHERE s.newsletter_id = %(newsletter)s AND s.email IS NOT NULL AND ({rules})
"""
NAME_TAKEN = "This newsletter already has a segment with this name."


def _checked(newsletter: Newsletter, name: str, rules: object) -> str:
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [gettext("Give the segment a name.")]
    try:
        compile_rules(rules, newsletter=newsletter)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return name.strip()


@transaction.atomic
def segment_create(
    *, newsletter: Newsletter, name: str, rules: object, description: str = ""
) -> Segment:
    segment = Segment(
        newsletter=newsletter,
        name=_checked(newsletter, name, rules),
        rules=rules,
        description=description,
    )
    return _saved(segment)


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    name: str | None = None,
    rules: object = None,
    description: str | None = None,
) -> Segment:
    """Change a segment. Campaigns already sending keep the people they started with:
    their delivery rows were written when they started."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if name is not None:
        segment.name = name
    if rules is not None:
        segment.rules = rules
    if description is not None:
        segment.description = description
    segment.name = _checked(segment.newsletter, segment.name, segment.rules)
    return _saved(segment)


def _saved(segment: Segment) -> Segment:
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise ValidationError({"name": gettext(NAME_TAKEN)}) from None
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    """A segment a campaign, a feed or an automation names stays: the campaign or feed
    would otherwise widen to its whole lists, and an automation lose its trigger or
    branch, without anyone choosing that."""
    try:
        segment.delete()
    except ProtectedError as error:
        # A branch step is known by its automation's name.
        names = sorted({str(getattr(user, "automation", user)) for user in error.protected_objects})
        raise ValidationError(
            gettext("Campaigns, feeds or automations use this segment: %(names)s.")
            % {"names": ", ".join(names)}
        ) from None


def segment_compile(*, segment: Segment, prefix: str = "seg") -> Compiled:
    """The segment's rules compiled now; ValidationError names what broke since it was saved."""
    return compile_rules(segment.rules, newsletter=segment.newsletter, prefix=prefix)


@dataclass(frozen=True)
class Preview:
    """What the builder shows: how many contacts the rules pick, and a few of them."""

    matching: int
    sample: list[Subscriber]


def segment_preview(*, newsletter: Newsletter, rules: object) -> Preview:
    """Contacts picked (erased ones left out), whatever their consent: who of them may be
    mailed is the send path's count (``delivery.audience.audience_count``)."""
    compiled = compile_rules(rules, newsletter=newsletter)
    with connection.cursor() as cursor:
        cursor.execute(
            COUNT_MATCHING.format(rules=compiled.sql),
            {**compiled.params, "newsletter": newsletter.pk},
        )
        count = cursor.fetchone()[0]
    sample = list(
        matching(rules, newsletter=newsletter)
        .filter(email__isnull=False)
        .order_by()
        .only("pk", "email", "name", "status")[:SAMPLE_SIZE]
    )
    return Preview(matching=count, sample=sample)


def segment_options(newsletter: Newsletter) -> list[tuple[str, str]]:
    """The newsletter's saved segments as (id, name), for a filter's choices."""
    return [(str(pk), name) for pk, name in newsletter.segments.values_list("pk", "name")]


def segment_matching(newsletter: Newsletter, segment_id: str) -> QuerySet[Subscriber]:
    """The newsletter's contacts its segment ``segment_id`` picks (none for an id that is
    not one of its segments); ValidationError names what broke since it was saved."""
    segment = (
        newsletter.segments.filter(pk=int(segment_id)).first() if segment_id.isdigit() else None
    )
    if segment is None:
        return Subscriber.objects.none()
    return matching(segment.rules, newsletter=newsletter)


def segments_naming_field(field: FieldDefinition) -> list[Segment]:
    """The newsletter's segments with a condition on this field."""

    def names(node: object) -> bool:
        if isinstance(node, dict):
            if node.get("field") == field.key:
                return True
            return any(names(child) for child in node.values())
        if isinstance(node, list):
            return any(names(child) for child in node)
        return False

    return [segment for segment in field.newsletter.segments.all() if names(segment.rules)]


@transaction.atomic
def field_delete(*, field: FieldDefinition) -> None:
    """Delete a custom field unless a segment names it (that segment could no longer be
    counted nor sent to); the stored values stay as free attributes."""
    using = segments_naming_field(field)
    if using:
        raise ValidationError(
            gettext("Segments use this field: %(names)s.")
            % {"names": ", ".join(segment.name for segment in using)}
        )
    fields.field_delete(field=field)
