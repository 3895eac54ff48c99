"""Which edition a reader gets, and how a language is written: pure rules, no database.

The sending engine applies the same rule in SQL when it creates the recipients'
rows (``delivery.audience.AUDIENCE_ROWS``); the counts the editor sees use this
one. A reader's language is matched exactly first (``pt-br``), then by its first
part (``fr-CA`` reads the ``fr`` edition); anyone else gets the campaign itself,
in the newsletter's language.
"""

import re
from collections.abc import Iterable

from django.utils.translation import get_language_info
from django.utils.translation import gettext as _

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")


def normalize_language(code: str) -> str:
    return code.strip().lower().replace("_", "-")


def language_error(code: str) -> str | None:
    """Why ``code`` cannot name an edition's language, or None."""
    if not LANGUAGE_CODE.fullmatch(code) or len(code) > 10:
        return _("Write a language code such as fr, de or pt-br.")
    return None


def edition_for(reader_language: str, languages: Iterable[str]) -> str | None:
    """The edition (its language) this reader gets among ``languages``, or None."""
    wanted = normalize_language(reader_language)
    if not wanted:
        return None
    available = set(languages)
    if wanted in available:
        return wanted
    primary = wanted.split("-", 1)[0]
    return primary if primary in available else None


def language_name(code: str) -> str:
    """The language's name in the editor's language ("French"), or the code itself."""
    for candidate in (code, code.split("-", 1)[0]):
        try:
            return str(get_language_info(candidate)["name_translated"])
        except KeyError:
            continue
    return code
