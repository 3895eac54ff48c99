"""CSS inlining with premailer, offline.

``allow_network=False`` keeps premailer from fetching ``<link>`` stylesheets, but
it leaves those tags in the HTML, where the reader's mail client would fetch
them (and a font import tracks the reader). So every remote stylesheet and
``@import`` is removed here, with a warning naming it.
"""

import logging
import re

from lxml import html as lxml_html
from premailer import Premailer

from .problems import Level, Problem, Source

_IMPORT = re.compile(r"@import\s+(?:url\()?\s*['\"]?([^'\")\s;]+)['\"]?\s*\)?[^;]*;", re.I)


def strip_remote(document: str) -> tuple[str, list[Problem]]:
    tree = lxml_html.document_fromstring(document)
    problems = []
    for link in tree.xpath(
        "//link[contains(translate(@rel, 'STYLESHEET', 'stylesheet'), 'stylesheet')]"
    ):
        problems.append(_dropped(link.get("href", "")))
        link.drop_tree()
    for style in tree.xpath("//style"):
        if style.text and "@import" in style.text:
            for match in _IMPORT.finditer(style.text):
                problems.append(_dropped(match.group(1)))
            style.text = _IMPORT.sub("", style.text)
    if not problems:
        return document, []
    return _serialize(tree), problems


def _dropped(url: str) -> Problem:
    return Problem(
        Level.WARNING,
        Source.MESSAGE,
        f"the remote stylesheet or font {url} was removed: mail is rendered offline and "
        "must not make the reader's client fetch styles.",
    )


def inline(document: str) -> str:
    """Inline the stylesheet into ``style`` attributes, keeping the original ``<style>``.

    The style blocks stay for the media queries (mobile columns, dark mode) whose
    ``!important`` premailer would otherwise strip.
    """
    inlined = Premailer(
        document,
        allow_network=False,
        allow_loading_external_files=False,
        keep_style_tags=True,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)
    return _with_doctype(inlined)


def _serialize(tree) -> str:
    return _with_doctype(lxml_html.tostring(tree, encoding="unicode"))


def _with_doctype(document: str) -> str:
    if document.lstrip()[:9].lower() == "<!doctype":
        return document
    return "<!doctype html>" + document
