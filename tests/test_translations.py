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
        if entry.msgid_plural:
            # The singular may leave the number out ("Joined in the last day"), so the
            # first form follows msgid and every other form follows msgid_plural.
            forms = [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
            sources = [entry.msgid] + [entry.msgid_plural] * (len(forms) - 1)
        else:
            forms, sources = [entry.msgstr], [entry.msgid]
        for translation, source in zip(forms, sources, strict=True):
            wanted = sorted(placeholder.findall(source))
            assert sorted(placeholder.findall(translation)) == wanted, entry.msgid
