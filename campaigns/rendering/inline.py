"""CSS inlining with premailer, unable to fetch anything.

Rendering runs on the server with text that editors wrote, so it must not be a way
to make the server fetch a URL or read a file. That is enforced where fetching
would happen, not by recognising spellings:

- the HTML is parsed by lxml with no network access and no DTD or entity loading,
  and premailer works on that tree instead of parsing again;
- cssutils, the CSS parser inside premailer, follows ``@import`` (over HTTP, or from
  local files, with no timeout) through its *fetcher*: premailer's parser is given
  one that refuses every URL;
- premailer itself may not load network or local stylesheets, and its HTTP session
  refuses every request.

The sent message must not make the *reader's* client fetch styles either (a font
import tracks the reader), so every remote stylesheet and every ``@import`` rule is
removed, with a warning naming it. ``@import`` is found by reading the CSS the way
a browser does (CSS Syntax Level 3: comments, strings, escapes, ASCII case), so
``@IMPORT``, ``@\\69mport`` or ``@import/**/url(…)`` are the same rule.
"""

import logging

import cssutils
from lxml import html as lxml_html
from premailer import Premailer

from .problems import Level, Problem, Source


class FetchRefused(Exception):
    """Something in the pipeline tried to fetch a URL or read a file."""


def _refuse_fetch(url: str) -> None:
    """cssutils' fetcher: ``None`` means "could not be fetched", and the rule stays empty."""
    logging.getLogger(__name__).warning("rendering refused to fetch %s", url[:200])
    return None


class _NoSession:
    """premailer's HTTP session, used only for remote stylesheets: there are none."""

    def get(self, url, **kwargs):
        raise FetchRefused(f"rendering does not fetch {url}")


class _OfflinePremailer(Premailer):
    def _parse_css_string(self, css_body, validate=True):
        # Instead of cssutils.parseString (module-wide default fetcher, cache): a
        # parser whose fetcher refuses, for every stylesheet premailer reads.
        parser = cssutils.CSSParser(fetcher=_refuse_fetch, validate=validate)
        return parser.parseString(css_body)


def parse(document: str):
    """The document as an lxml tree, read with no network and no DTD."""
    parser = lxml_html.HTMLParser(no_network=True, remove_pis=True, default_doctype=False)
    return lxml_html.document_fromstring(document, parser=parser)


def strip_remote(document: str) -> tuple[str, list[Problem]]:
    tree = parse(document)
    problems = _strip_remote_styles(tree)
    if not problems:
        return document, []
    return _serialize(tree), problems


def _strip_remote_styles(tree) -> list[Problem]:
    problems = []
    for link in tree.xpath(
        "//link[contains(translate(@rel, 'STYLESHEET', 'stylesheet'), 'stylesheet')]"
    ):
        problems.append(_dropped(link.get("href", "")))
        link.drop_tree()
    for style in tree.iter("style"):
        if style.text:
            style.text, imports = strip_imports(style.text)
            problems += [_dropped(target) for target in imports]
    return problems


def _dropped(url: str) -> Problem:
    return Problem(
        Level.WARNING,
        Source.MESSAGE,
        f"the remote stylesheet or font {url or '(no address)'} was removed: mail is rendered "
        "offline and must not make the reader's client fetch styles.",
    )


def inline(document: str) -> str:
    """Inline the stylesheet into ``style`` attributes, keeping the original ``<style>``.

    The style blocks stay for the media queries (mobile columns, dark mode) whose
    ``!important`` premailer would otherwise strip. Whatever reached here, the
    result carries no ``@import``.
    """
    tree = parse(document)
    _strip_remote_styles(tree)  # strip_remote reported them; premailer must not see them
    _OfflinePremailer(
        tree,
        allow_network=False,
        allow_loading_external_files=False,
        external_styles=None,
        base_url=None,
        session=_NoSession(),
        cache_css_parsing=False,
        keep_style_tags=True,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()  # in place, on this tree
    return _serialize(tree)


def _serialize(tree) -> str:
    html = lxml_html.tostring(tree, encoding="unicode", include_meta_content_type=True)
    return _with_doctype(html)


def _with_doctype(document: str) -> str:
    if document.lstrip()[:9].lower() == "<!doctype":
        return document
    return "<!doctype html>" + document


# Reading CSS like a browser, just enough to find @import rules.

_HEX = frozenset("0123456789abcdefABCDEF")
_WHITESPACE = frozenset(" \t\n\r\f")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def strip_imports(css: str) -> tuple[str, list[str]]:
    """``css`` without its ``@import`` rules, and what each one imported."""
    kept, imports = [], []
    position = start = 0
    while position < len(css):
        character = css[position]
        if css.startswith("/*", position):
            position = _after_comment(css, position)
        elif character in "\"'":
            position = _after_string(css, position)[0]
        elif character == "\\":
            position = _after_escape(css, position)[0]
        elif character == "@":
            name, after_name = _name(css, position + 1)
            if name.lower() == "import":
                end, target = _after_at_rule(css, after_name)
                kept.append(css[start:position])
                imports.append(target)
                position = start = end
            else:
                position = max(after_name, position + 1)
        else:
            position += 1
    kept.append(css[start:])
    return "".join(kept), imports


def _after_comment(css: str, position: int) -> int:
    end = css.find("*/", position + 2)
    return len(css) if end < 0 else end + 2


def _after_string(css: str, position: int) -> tuple[int, str]:
    quote, position, value = css[position], position + 1, []
    while position < len(css) and css[position] != quote:
        if css[position] == "\\":
            position, character = _after_escape(css, position)
            value.append(character)
        elif css[position] == "\n":  # a bad string ends at the line
            return position, "".join(value)
        else:
            value.append(css[position])
            position += 1
    return position + 1, "".join(value)


def _after_escape(css: str, position: int) -> tuple[int, str]:
    """A backslash escape: up to six hex digits and one whitespace, or one character."""
    position += 1
    if position >= len(css):
        return position, "\ufffd"
    digits = ""
    while position < len(css) and len(digits) < 6 and css[position] in _HEX:
        digits += css[position]
        position += 1
    if not digits:
        return position + 1, css[position]
    if position < len(css) and css[position] in _WHITESPACE:
        position += 2 if css.startswith("\r\n", position) else 1
    point = int(digits, 16)
    valid = 0 < point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF
    return position, chr(point) if valid else "\ufffd"


def _name(css: str, position: int) -> tuple[str, int]:
    """The identifier starting at ``position``, escapes decoded (empty if none)."""
    name = []
    while position < len(css):
        character = css[position]
        if character == "\\" and not css.startswith("\\\n", position):
            position, decoded = _after_escape(css, position)
            name.append(decoded)
        elif character.isalnum() or character in "-_" or ord(character) > 0x7F:
            name.append(character)
            position += 1
        else:
            break
    return "".join(name), position


def _after_at_rule(css: str, position: int) -> tuple[int, str]:
    """Where an at-rule's prelude ends (after its ``;`` or its ``{}`` block), and the
    first string or ``url()`` in it (what it imports)."""
    target, closing = "", []
    while position < len(css):
        character = css[position]
        if css.startswith("/*", position):
            position = _after_comment(css, position)
            continue
        if character in "\"'":
            position, value = _after_string(css, position)
            target = target or value
            continue
        if character == "\\":
            position = _after_escape(css, position)[0]
            continue
        if not closing and character == ";":
            return position + 1, target
        if character in _CLOSING:
            if not target and character == "(":
                target = _url_argument(css, position)
            closing.append(_CLOSING[character])
        elif closing and character == closing[-1]:
            closing.pop()
            if not closing and character == "}":
                return position + 1, target
        position += 1
    return position, target


def _url_argument(css: str, position: int) -> str:
    """The unquoted argument of a ``url(`` whose parenthesis is at ``position``."""
    end = css.find(")", position)
    return css[position + 1 : end if end >= 0 else len(css)].strip(" \t\n\r\f\"'")
