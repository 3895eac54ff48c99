"""Conditional blocks: who sees what, in both body formats, and the errors by line."""

from dataclasses import replace

import pytest

from campaigns.rendering import DEFAULT_LAYOUTS, Recipient, RenderInput, personalize, render
from campaigns.rendering.conditions import parse

LAYOUT = DEFAULT_LAYOUTS[0].mjml()
READER = Recipient(email="ada@example.org", name="Ada")

MARKDOWN = """Hello all.

{% if list releases %}
Release notes for **list readers**.
{% else %}
Join the releases list.
{% endif %}

{% if language fr %}
Une ligne en français.
{% endif %}

{% if subscriber.attributes.plan == "pro" %}
Thanks for supporting us, {{ subscriber.name }}.
{% endif %}

{% if not subscriber.attributes.company %}
No company on file.
{% endif %}
"""

MJML = """<mj-section><mj-column>
<mj-text>Hello all.</mj-text>
{% if list releases %}
<mj-text>Release notes for list readers.</mj-text>
{% else %}
<mj-button href="https://example.org/join">Join the releases list</mj-button>
{% endif %}
</mj-column></mj-section>
"""


def source(body, body_format="markdown", **extra):
    return RenderInput(
        layout=LAYOUT,
        body=body,
        body_format=body_format,
        subject="News",
        newsletter_name="News",
        postal_address="1 Example Street",
        known_lists=("releases", "security"),
        **extra,
    )


def text_for(body, shown=frozenset(), body_format="markdown"):
    result = render(source(body, body_format, shown=frozenset(shown)))
    assert result.ok, result.problems
    return personalize(result, READER).html


def test_the_neutral_variant_shows_the_else_branches_and_no_guarded_block():
    html = text_for(MARKDOWN)
    assert "Join the releases list." in html
    assert "Release notes" not in html
    assert "Une ligne" not in html
    assert "Thanks for supporting" not in html
    assert "No company on file." in html


def test_a_variant_shows_exactly_the_blocks_whose_facts_hold():
    html = text_for(MARKDOWN, {"list:releases", "language:fr", "attribute:plan=pro"})
    assert "<strong>list readers</strong>" in html
    assert "Join the releases list." not in html
    assert "Une ligne en français." in html
    assert "Thanks for supporting us, Ada." in html


def test_conditional_blocks_work_in_mjml_bodies():
    neutral = text_for(MJML, body_format="mjml")
    assert "Join the releases list" in neutral and "Release notes" not in neutral
    on_list = text_for(MJML, {"list:releases"}, body_format="mjml")
    assert "Release notes for list readers." in on_list and "Join the releases" not in on_list


def test_facts_are_computed_from_the_reader():
    template, problems = parse(MARKDOWN, body_format="markdown")
    assert problems == []
    facts = template.facts(
        lists={"releases", "other"}, language="fr-CA", attributes={"plan": "pro", "company": ""}
    )
    assert facts == {"list:releases", "language:fr", "attribute:plan=pro"}
    assert template.facts(lists=(), language="de", attributes={"company": "ACME"}) == {
        "attribute:company"
    }
    assert template.list_slugs() == {"releases"}


def test_a_boolean_attribute_compares_as_json_writes_it():
    template, _ = parse(
        '{% if subscriber.attributes.beta == "true" %}\nx\n{% endif %}', body_format="markdown"
    )
    assert template.facts(lists=(), language="", attributes={"beta": True}) == {
        "attribute:beta=true"
    }


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("a\n\n{% if list nowhere %}\nx\n{% endif %}", 3, 'no list "nowhere"'),
        ("{% if lists releases %}\nx\n{% endif %}", 1, "cannot read the condition"),
        ("{% if list releases %}\nx", 1, "never closed"),
        ("x\n{% endif %}", 2, "without an {% if %}"),
        ("{% if list releases %}\n{% else %}\n{% else %}\n{% endif %}", 3, "second {% else %}"),
        ("Hi {% if list releases %} there", 1, "alone on its line"),
        ("{% for x in y %}", 1, "unknown tag"),
    ],
)
def test_bad_conditions_are_errors_naming_their_line(body, line, words):
    result = render(source(body))
    assert not result.ok
    assert any(p.line == line and words in p.message for p in result.errors), result.problems


def test_an_error_in_a_branch_few_readers_get_is_found_on_save():
    body = "Hi.\n\n{% if list security %}\nHello {{ subscriber.shoe_size }}\n{% endif %}\n"
    result = render(source(body))
    assert any(p.line == 4 and "shoe_size" in p.message for p in result.errors)


def test_tags_inside_a_fenced_code_block_are_text():
    body = "How to write a Django template:\n\n```\n{% if user %}\n```\n"
    html = text_for(body)
    assert "{% if user %}" in html


def test_a_body_without_conditions_keeps_its_digest():
    plain = source("Hello.")
    assert plain.digest() == replace(plain, known_lists=None).digest()
