import sys

import pytest
from django.core.exceptions import ValidationError

from campaigns.rendering.mergetags import escape
from newsletter.headers import (
    LINE_BREAKS,
    HeaderInjection,
    has_line_break,
    header_value,
    validate_single_line,
)


def test_line_breaks_are_exactly_what_splitlines_knows():
    known = {
        chr(point) for point in range(sys.maxunicode + 1) if len(f"a{chr(point)}b".splitlines()) > 1
    }
    assert set(LINE_BREAKS) == known


@pytest.mark.parametrize("character", [*LINE_BREAKS, "\r\n"])
def test_every_line_break_is_refused_on_input_and_in_a_header(character):
    value = f"Release{character}Bcc: everyone@example.org"
    assert has_line_break(value)
    with pytest.raises(ValidationError) as refused:
        validate_single_line(value)
    assert refused.value.code == "line_break"
    with pytest.raises(HeaderInjection):
        header_value("Subject", value)


@pytest.mark.parametrize("value", ["Release 2.0", "Lettre d’été — n° 3", "tab\tinside", ""])
def test_one_line_text_passes(value):
    validate_single_line(value)
    assert header_value("Subject", value) == value


@pytest.mark.parametrize("character", list(LINE_BREAKS))
def test_a_merge_tag_value_in_a_header_is_folded_onto_one_line(character):
    assert not has_line_break(escape(f"Ada{character}Bcc: x@example.org", "header"))
