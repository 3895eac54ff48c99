"""What other apps add to campaigns, without campaigns ever importing them.

An app registers here from its ``AppConfig.ready()``; campaigns, the sending
engine and the report only read this registry. There are four kinds of additions:

- **reader links**: merge tags whose value is a link of each recipient's own, such
  as ``{{ referral_url }}``. They join the vocabulary of every campaign and layout;
  previews, test sends and the archive show the link's ``fallback`` instead.
- **blocks**: ``{{ consultation.SLUG }}`` alone on a line of the body becomes the
  MJML the app provides (a question with its answer links, a progress bar). A
  block may carry its own reader tags (``reader_tags``), filled per recipient.
- **reader values**: per campaign, the app says how to fill the reader slots it
  owns for one recipient (a keyed hash or two: the render is never redone per
  recipient, see ``delivery.messages``).
- **report sections** and **archive links**: what the campaign report and the
  web version show about the app's part of the campaign.

Rendering stays pure: ``render_extras`` turns the registry into plain data
(``RenderInput.reader_links`` and ``RenderInput.blocks``) before the pipeline runs.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .rendering import Block

if TYPE_CHECKING:
    from newsletter.models import Newsletter

    from .models import Campaign

# Filled per recipient: (subscriber id, delivery id) → {slot name: raw value}.
ReaderFiller = Callable[[int, int], dict[str, str]]


@dataclass(frozen=True)
class ReaderLink:
    name: str
    description: str
    fallback: Callable[["Newsletter"], str]


@dataclass(frozen=True)
class BlockKind:
    prefix: str
    description: str
    source: Callable[["Newsletter", str], Block]

    def pattern(self) -> re.Pattern:
        return re.compile(r"\{\{\s*" + re.escape(self.prefix) + r"\.([A-Za-z0-9_-]+)\s*\}\}")

    def keys_in(self, body: str) -> list[str]:
        """The keys (slugs) of this kind's blocks that a body names, in order, once each."""
        return list(dict.fromkeys(self.pattern().findall(body)))


@dataclass(frozen=True)
class ReportSection:
    """A part of the campaign report: a template and what it needs."""

    template: str
    context: dict


@dataclass(frozen=True)
class ArchiveLink:
    label: str
    url: str


@dataclass(frozen=True)
class VariantContent:
    """What an experiment variant changes in its campaign: an empty field keeps the
    campaign's own."""

    subject: str = ""
    body: str = ""


@dataclass
class _Registry:
    links: dict[str, ReaderLink] = field(default_factory=dict)
    blocks: dict[str, BlockKind] = field(default_factory=dict)
    fillers: list[Callable[["Campaign", frozenset[str]], ReaderFiller | None]] = field(
        default_factory=list
    )
    sections: list[Callable[["Campaign"], list[ReportSection]]] = field(default_factory=list)
    editor_sections: list[Callable[["Campaign"], list[ReportSection]]] = field(default_factory=list)
    archive: list[Callable[["Campaign"], list[ArchiveLink]]] = field(default_factory=list)
    variants: list[Callable[["Campaign"], dict[str, "VariantContent"]]] = field(
        default_factory=list
    )


_registry = _Registry()


def register_reader_link(link: ReaderLink) -> None:
    _registry.links[link.name] = link


def register_block(kind: BlockKind) -> None:
    _registry.blocks[kind.prefix] = kind


def register_reader_values(
    factory: Callable[["Campaign", frozenset[str]], ReaderFiller | None],
) -> None:
    """``factory(campaign, slot names the message uses)`` returns a filler, or None
    when the message uses none of the app's slots (then it costs nothing per recipient)."""
    _registry.fillers.append(factory)


def register_report_sections(provider: Callable[["Campaign"], list[ReportSection]]) -> None:
    _registry.sections.append(provider)


def register_editor_sections(provider: Callable[["Campaign"], list[ReportSection]]) -> None:
    """What the campaign editor shows below the form for a campaign being edited."""
    _registry.editor_sections.append(provider)


def editor_sections(campaign: "Campaign") -> list[ReportSection]:
    return [section for provider in _registry.editor_sections for section in provider(campaign)]


def register_archive_links(provider: Callable[["Campaign"], list[ArchiveLink]]) -> None:
    _registry.archive.append(provider)


def register_variants(provider: Callable[["Campaign"], dict[str, VariantContent]]) -> None:
    """``provider(campaign)`` gives the campaign's sample variants by label (an experiment)."""
    _registry.variants.append(provider)


def variants(campaign: "Campaign") -> dict[str, VariantContent]:
    return {
        label: content
        for provider in _registry.variants
        for label, content in provider(campaign).items()
    }


def reader_links() -> dict[str, ReaderLink]:
    return dict(_registry.links)


def block_kinds() -> dict[str, BlockKind]:
    return dict(_registry.blocks)


def render_extras(*, newsletter: "Newsletter", body: str) -> dict:
    """``RenderInput`` keyword arguments for what the registered apps add (database reads)."""
    blocks = tuple(
        kind.source(newsletter, key)
        for kind in _registry.blocks.values()
        for key in kind.keys_in(body)
    )
    return {
        "reader_links": tuple(
            (link.name, link.fallback(newsletter)) for link in _registry.links.values()
        ),
        "blocks": blocks,
    }


def reader_fillers(*, campaign: "Campaign", used: frozenset[str]) -> list[ReaderFiller]:
    """The fillers a campaign's message needs, once per campaign (the sending engine)."""
    return [
        filler for factory in _registry.fillers if (filler := factory(campaign, used)) is not None
    ]


def report_sections(campaign: "Campaign") -> list[ReportSection]:
    return [section for provider in _registry.sections for section in provider(campaign)]


def archive_links(campaign: "Campaign") -> list[ArchiveLink]:
    return [link for provider in _registry.archive for link in provider(campaign)]
