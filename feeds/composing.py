"""An issue's subject and Markdown body from a feed's settings and its new items.

The subject and the item template have their own small vocabulary
(``{{ item.title }}``, ``{{ items.count }}``…), filled here; whatever else is in
double braces is left for the campaign's merge tags (``{{ subscriber.name }}``),
which the campaign's render checks. Values come from a feed, a stranger's text, so
they are escaped for Markdown (no link, emphasis or raw HTML of their own) and
cannot open a merge tag; a URL is percent-encoded so it cannot leave its link.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from .parsing import Item

SUBJECT_TAGS = ("feed.title", "feed.name", "items.count", "items.first.title", "date")
ITEM_TAGS = ("item.title", "item.url", "item.summary", "item.date", "item.author")
# Ours to fill: any tag under these names; other tags belong to the campaign.
OUR_PREFIXES = ("feed.", "items.", "item.", "date")
SEPARATOR = "\n\n---\n\n"  # a new section per item (the layouts draw each as a card)

_TAG = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
# CommonMark lets any ASCII punctuation be escaped; these are the ones that can start
# markup inline (and braces, which would open a merge tag).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~!&])")
_LIST_MARK = re.compile(r"^([-+=])")
_NUMBER_MARK = re.compile(r"^(\d+)([.)])")
URL_SAFE = ":/?#@!$&'*+,;=%~"  # parentheses, spaces and braces are encoded


@dataclass(frozen=True)
class Issue:
    subject: str
    body: str


def check_templates(*, subject: str, item_template: str) -> None:
    """Refuse a tag of ours that does not exist, naming the field and the tag."""
    errors: dict[str, list[str]] = {}
    for field, text, allowed in (
        ("subject", subject, SUBJECT_TAGS),
        ("item_template", item_template, ITEM_TAGS),
    ):
        for name in _our_tags(text):
            if name not in allowed:
                errors.setdefault(field, []).append(
                    gettext("Unknown tag {{ %(name)s }}; this field knows %(known)s.")
                    % {"name": name, "known": ", ".join(f"{{{{ {tag} }}}}" for tag in allowed)}
                )
    if errors:
        raise ValidationError(errors)


def compose(
    *,
    feed_name: str,
    feed_title: str,
    subject: str,
    intro: str,
    item_template: str,
    items: list[Item],
    today: datetime,
) -> Issue:
    """The issue for ``items`` (newest first); the caller makes sure there is one at least."""
    date = today.date().isoformat()
    subject_values = {
        "feed.title": _plain(feed_title or feed_name),
        "feed.name": _plain(feed_name),
        "items.count": str(len(items)),
        "items.first.title": _plain(items[0].title) if items else "",
        "date": date,
    }
    blocks = [_fill(item_template, _item_values(item)) for item in items]
    body = SEPARATOR.join(blocks)
    if intro.strip():
        body = intro.strip() + SEPARATOR + body
    filled = _fill(subject, subject_values).replace("\n", " ").strip()
    return Issue(subject=filled[:250], body=body)


def _item_values(item: Item) -> dict[str, str]:
    return {
        "item.title": markdown_text(item.title),
        "item.url": quote(item.url, safe=URL_SAFE),
        "item.summary": markdown_text(item.summary),
        "item.date": item.published.date().isoformat() if item.published else "",
        "item.author": markdown_text(item.author),
    }


def _our_tags(text: str) -> list[str]:
    return [
        match.group(1) for match in _TAG.finditer(text) if match.group(1).startswith(OUR_PREFIXES)
    ]


def _fill(template: str, values: dict[str, str]) -> str:
    return _TAG.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def markdown_text(value: str) -> str:
    """A stranger's text as literal Markdown text: no markup, no merge tag, no HTML."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    return _NUMBER_MARK.sub(r"\1\\\2", _LIST_MARK.sub(r"\\\1", escaped))


def _plain(value: str) -> str:
    """Text for a subject line: merge-tag braces are the only markup a subject has."""
    return value.replace("{{", "{ {").replace("}}", "} }")
