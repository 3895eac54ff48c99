"""What other apps keep about a person, and show them, without subscribers importing them.

Registered from each app's ``AppConfig.ready()``:

- **personal data**: what an app holds about a contact goes into the person's data
  export (``personal_data.export_person``) and is shown on the contact's page in the
  dashboard. Erasure reaches every app the same way, through the
  ``signals.subscriber_erased`` signal sent inside the erasure's transaction.
- **preference sections**: a part of the preference center (a referral link,
  open consultations), rendered from a template with the context the app gives.
- **public page sections**: a part of the newsletter's public page below the
  subscribe form (campaigns: the archive), rendered from a template with the
  context the app gives.
- **segments**: the saved segments a newsletter's people page can filter by, and the
  contacts one picks (``audiences``), so the one selector (``selectors.subscribers_of``)
  narrows by them without subscribers knowing how rules compile.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from newsletter.models import Newsletter

    from .models import Subscriber


@dataclass(frozen=True)
class Facts:
    """A titled table for the subscriber's page in the dashboard."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass(frozen=True)
class PersonalData:
    """``export(subscriber)``: JSON-ready data for the export, under ``key``;
    ``facts(subscriber, newsletter)``: what editors of that newsletter see, or None."""

    key: str
    export: Callable[["Subscriber"], object]
    facts: Callable[["Subscriber", "Newsletter"], Facts | None]


@dataclass(frozen=True)
class PreferenceSection:
    template: str
    context: dict


@dataclass(frozen=True)
class PageSection:
    template: str
    context: dict


@dataclass(frozen=True)
class Segments:
    """``options(newsletter)``: (id, name) of its saved segments; ``matching(newsletter,
    id)``: its contacts that segment picks, raising ValidationError naming what broke
    (``Segment.DoesNotExist``-safe: an id of another newsletter picks nothing)."""

    options: Callable[["Newsletter"], list[tuple[str, str]]]
    matching: Callable[["Newsletter", str], "QuerySet[Subscriber]"]


@dataclass
class _Registry:
    personal_data: dict[str, PersonalData] = field(default_factory=dict)
    preference_sections: list[
        Callable[["Subscriber", "Newsletter", str], PreferenceSection | None]
    ] = field(default_factory=list)
    page_sections: list[Callable[["Newsletter"], PageSection]] = field(default_factory=list)
    segments: Segments | None = None


_registry = _Registry()


def register_personal_data(data: PersonalData) -> None:
    _registry.personal_data[data.key] = data


def register_preference_section(
    provider: Callable[["Subscriber", "Newsletter", str], PreferenceSection | None],
) -> None:
    """``provider(subscriber, newsletter, preferences token)`` returns a section or None."""
    _registry.preference_sections.append(provider)


def register_page_section(provider: Callable[["Newsletter"], PageSection]) -> None:
    """``provider(newsletter)`` returns a section of the newsletter's public page."""
    _registry.page_sections.append(provider)


def register_segments(segments: Segments) -> None:
    _registry.segments = segments


def segments() -> Segments | None:
    """The segments provider, or None when no app offers one."""
    return _registry.segments


def exported(subscriber: "Subscriber") -> dict:
    return {key: data.export(subscriber) for key, data in _registry.personal_data.items()}


def facts(subscriber: "Subscriber", newsletter: "Newsletter") -> list[Facts]:
    return [
        found
        for data in _registry.personal_data.values()
        if (found := data.facts(subscriber, newsletter)) is not None
    ]


def preference_sections(
    subscriber: "Subscriber", newsletter: "Newsletter", token: str
) -> list[PreferenceSection]:
    return [
        section
        for provider in _registry.preference_sections
        if (section := provider(subscriber, newsletter, token)) is not None
    ]


def page_sections(newsletter: "Newsletter") -> list[PageSection]:
    return [provider(newsletter) for provider in _registry.page_sections]
