import re
from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parents[1] / "locale"
CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/django.po"))


def test_at_least_one_language_besides_english_ships():
    assert [catalog.parts[-3] for catalog in CATALOGS] == ["fr"]


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.parts[-3])
def test_every_message_is_translated_and_none_is_fuzzy(catalog):
    po = polib.pofile(str(catalog))
    assert [entry.msgid for entry in po.untranslated_entries()] == []
    assert [entry.msgid for entry in po.fuzzy_entries()] == []


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.parts[-3])
def test_placeholders_survive_translation(catalog):
    placeholder = re.compile(r"%\(\w+\)[sd]")
    for entry in polib.pofile(str(catalog)).translated_entries():
        wanted = sorted(placeholder.findall(entry.msgid))
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for translation in translations:
            assert sorted(placeholder.findall(translation)) == wanted, entry.msgid
