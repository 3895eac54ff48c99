"""Bytes → the feed's title and its items, with feedparser (RSS 0.9x to 2.0, Atom, RDF).

feedparser reads what it is given and nothing else: it gets a stream, never a URL or
a path (it would fetch those itself, around the guards of ``fetching``), and it
does not resolve external entities. An item's HTML is sanitised with nh3, like the
rest of Crier, and reduced to its text: a campaign's Markdown does not interpret
raw HTML, and a summary in mail reads best as a short paragraph under its link.
"""

import calendar
import hashlib
import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import feedparser
import nh3
from django.utils.translation import gettext

from .fetching import FeedError

SUMMARY_CHARS = 500
TITLE_CHARS = 500
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    url: str
    summary: str
    author: str
    published: datetime | None


@dataclass(frozen=True)
class Parsed:
    title: str
    items: list[Item]  # newest first


def parse(content: bytes) -> Parsed:
    """The feed's items, newest first; raise FeedError if this is not an RSS or Atom feed."""
    result = feedparser.parse(io.BytesIO(content), sanitize_html=False, resolve_relative_uris=True)
    if not result.version:
        reason = getattr(result.get("bozo_exception"), "getMessage", lambda: "")()
        raise FeedError(
            gettext("This address did not return an RSS or Atom feed%(reason)s.")
            % {"reason": f" ({reason})" if reason else ""}
        )
    items = [_item(entry) for entry in result.entries]
    dated = all(item.published for item in items)
    if dated:
        items.sort(key=lambda item: item.published, reverse=True)
    return Parsed(title=_text(result.feed.get("title", ""), TITLE_CHARS), items=items)


def _item(entry) -> Item:
    title = _text(entry.get("title", ""), TITLE_CHARS)
    url = entry.get("link", "") or ""
    if not url.lower().startswith(("https://", "http://")):
        url = ""
    published = _moment(entry.get("published_parsed") or entry.get("updated_parsed"))
    identity = entry.get("id") or url or f"{title}\n{published.isoformat() if published else ''}"
    summary = entry.get("summary", "")
    if not summary and entry.get("content"):
        summary = entry.content[0].get("value", "")
    return Item(
        key=hashlib.sha256(identity.encode()).hexdigest(),
        title=title,
        url=url[:2000],
        summary=_text(summary, SUMMARY_CHARS),
        author=_text(entry.get("author", ""), 200),
        published=published,
    )


def _text(fragment: str, limit: int) -> str:
    """The text of an HTML fragment (sanitised by nh3, then stripped of every tag),
    on one line, cut at a word before ``limit`` characters."""
    text = html.unescape(nh3.clean(fragment or "", tags=set()))
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _moment(parsed) -> datetime | None:
    """feedparser's UTC struct_time as an aware datetime."""
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
