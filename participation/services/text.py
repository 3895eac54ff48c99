"""Text that comes from people (answers, submissions) or editors, made plain and safe.

Everything is stored as plain text: markup is removed by nh3 (the content of
``<script>`` and ``<style>`` with it), control characters and NULs are dropped,
and pages escape it on display. Where such text goes into a campaign, ``for_markdown``
also neutralises Markdown and merge-tag syntax.
"""

import html
import re

import nh3
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.text import slugify
from django.utils.translation import gettext as _

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_MARKDOWN = re.compile(r"([\\`*_\[\]()#+\-.!|<>~])")


def clean_text(value: str) -> str:
    """Plain text with line breaks kept: no markup, no control characters."""
    value = html.unescape(
        nh3.clean(value or "", tags=set(), clean_content_tags={"script", "style"})
    )
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value.strip()


def clean_line(value: str) -> str:
    """Plain text on one line (titles, names, options)."""
    return " ".join(clean_text(value).split())


def for_markdown(value: str) -> str:
    """Text that Markdown shows as written: every syntax character escaped, and no
    ``{{`` left for the merge-tag reader (a contributor cannot write a merge tag)."""
    return _MARKDOWN.sub(r"\\\1", value).replace("{", "&#123;").replace("}", "&#125;")


def unique_slug(taken: QuerySet, wanted: str, title: str) -> str:
    """``wanted`` if free (refused, naming the field, if not); else one made from the title."""
    if wanted:
        slug = slugify(wanted)[:90]
        if not slug:
            raise ValidationError({"slug": _("Use letters, digits and dashes.")})
        if taken.filter(slug=slug).exists():
            raise ValidationError({"slug": _("This slug is already used in this newsletter.")})
        return slug
    base = slugify(title)[:90] or "item"
    slug, counter = base, 2
    while taken.filter(slug=slug).exists():
        slug, counter = f"{base}-{counter}", counter + 1
    return slug
