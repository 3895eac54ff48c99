"""Tracking added to a compiled HTML part, once per campaign; pure, no database.

The part is the cached render (literal chunks and recipient slots). Each link
written in a literal chunk (``<a href="http…">``) is swapped for its click URL,
and the open pixel and a hidden link are put before ``</body>``. A link whose
address holds a merge tag (the unsubscribe and preference links, the web
version, anything personalised) spans a slot and is left as it is, as are
``mailto:`` and other non-web links. Replacements are either literal text (the
same for every recipient: aggregate tracking) or hold a slot (individual
tracking: the recipient's part of the token).
"""

import html
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from campaigns.rendering.mergetags import Compiled, Slot

LINK = re.compile(r'(<a\s[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
BODY_END = "</body>"
READER_SLOT = "tracking.reader"

Piece = str | Slot


def trackable_urls(part: Compiled) -> list[str]:
    """The web links written in the part's literal chunks, in order, each once."""
    holes = {index for index, _ in part.positions}
    found: dict[str, None] = {}
    for index, piece in enumerate(part.pieces):
        if index in holes:
            continue
        for match in LINK.finditer(piece):
            url = html.unescape(match.group(2)).strip()
            if _is_web(url):
                found.setdefault(url, None)
    return list(found)


def pixel(src: list[Piece]) -> list[Piece]:
    return [
        '<img src="',
        *src,
        '" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">',
    ]


def hidden_link(href: list[Piece]) -> list[Piece]:
    """A link no person sees or reaches: whatever follows it is a machine."""
    return ['<a href="', *href, '" style="display:none" aria-hidden="true" tabindex="-1"></a>']


def rewrite(
    part: Compiled, *, link: Callable[[str], list[Piece] | None], tail: list[Piece]
) -> Compiled:
    """The part with each web link replaced by ``link(url)`` and ``tail`` before ``</body>``."""
    holes = dict(part.positions)
    items: list[Piece] = []
    body_end = _last_body_end(part, holes)
    for index, piece in enumerate(part.pieces):
        if index in holes:
            items.append(part.slots[holes[index]])
            continue
        if index == body_end:
            cut = piece.rfind(BODY_END)
            items += _links(piece[:cut], link)
            items += tail
            items += _links(piece[cut:], link)
        else:
            items += _links(piece, link)
    if body_end is None:
        items += tail
    return _compile(part.mode, items, part.slots)


def _is_web(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() in ("http", "https")
    except ValueError:
        return False


def _last_body_end(part: Compiled, holes: dict[int, int]) -> int | None:
    for index in range(len(part.pieces) - 1, -1, -1):
        if index not in holes and BODY_END in part.pieces[index]:
            return index
    return None


def _links(text: str, link: Callable[[str], list[Piece] | None]) -> list[Piece]:
    items: list[Piece] = []
    last = 0
    for match in LINK.finditer(text):
        url = html.unescape(match.group(2)).strip()
        replacement = link(url) if _is_web(url) else None
        if replacement is None:
            continue
        items.append(text[last : match.end(1)])
        items += replacement
        last = match.start(3)
    items.append(text[last:])
    return items


def _compile(mode: str, items: list[Piece], slots: list[Slot]) -> Compiled:
    """Literal runs joined into chunks; slots keep their index (new ones are appended)."""
    slots = list(slots)
    pieces: list[str] = []
    positions: list[tuple[int, int]] = []
    literal = ""
    for item in items:
        if isinstance(item, str):
            literal += item
            continue
        pieces.append(literal)
        literal = ""
        if item not in slots:
            slots.append(item)
        positions.append((len(pieces), slots.index(item)))
        pieces.append("")
    pieces.append(literal)
    return Compiled(mode=mode, pieces=pieces, positions=positions, slots=slots)
