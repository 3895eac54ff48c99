"""The pure pipeline: what the editor is told, and what each reader receives."""

import json
import socket

import pytest

from campaigns.rendering import GMAIL_CLIP_BYTES, Recipient, Rendered, mjml, personalize, render
from campaigns.rendering.mergetags import Compiled
from campaigns.rendering.problems import RenderError
from tests.campaigns.samples import make_input


def errors_of(result) -> list[str]:
    return [str(problem) for problem in result.errors]


def test_a_markdown_campaign_renders_into_the_layout_with_a_text_part(reader):
    result = render(make_input())
    assert result.ok, result.problems
    message = personalize(result, reader)
    assert message.subject == "Demo 2.0 is out"
    assert message.html.lower().startswith("<!doctype html>")
    assert "<strong>2.0</strong>" in message.html
    assert "A plugin API and faster startup" in message.html  # the preheader
    assert "Hello Ada," in message.html and "Hello Ada," in message.text
    # Code, tables and images come out as such.
    assert "<pre" in message.html and "pip install --upgrade demo==2.0.0" in message.html
    assert "<table" in message.html and "<td" in message.html and "supported" in message.html
    assert 'alt="The new plugin manager"' in message.html
    # The footer: postal address, why, unsubscribe and preferences.
    assert "75000 Paris" in message.html and "75000 Paris" in message.text
    assert "you subscribed to Announcements of Demo Project News" in " ".join(message.text.split())
    assert 'href="https://crier.example.org/s/unsubscribe/tok-1/"' in message.html
    assert 'href="https://crier.example.org/s/prefs/tok-1/"' in message.html


def test_css_is_inlined_and_media_queries_are_kept():
    html = personalize(render(make_input()), Recipient(email="a@example.org")).html
    # The layout's `.crier-text pre` rule reaches the <pre> as a style attribute...
    assert 'style="white-space:pre-wrap' in html or "background-color:#f3f4f6" in html
    assert "border-radius:6px" in html.split("<pre", 1)[1].split(">", 1)[0]
    # ...while dark mode and the mobile breakpoint stay in a <style> block, !important intact.
    assert "@media (prefers-color-scheme: dark)" in html
    assert "#111318 !important" in html


def test_text_part_keeps_links_as_footnotes(reader):
    text = personalize(render(make_input()), reader).text
    assert "[the guide][" in text
    assert "]: https://demo.example.org/docs/plugins" in text
    assert "]: https://crier.example.org/s/unsubscribe/tok-1/" in text
    assert "<" not in text.replace("<Ada>", "")  # no markup leaks into the text part


def test_values_are_escaped_in_html_and_raw_in_text():
    result = render(
        make_input(body="Hi {{ subscriber.name }} from {{ subscriber.attributes.city }}")
    )
    reader = Recipient(
        email="x@example.org", name='<script>alert("x")</script>', attributes={"city": "A&B"}
    )
    message = personalize(result, reader)
    assert "<script>alert" not in message.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in message.html
    assert "A&amp;B" in message.html
    assert '<script>alert("x")</script>' in message.text
    assert "A&B" in message.text


def test_defaults_apply_when_a_value_is_missing():
    result = render(
        make_input(
            body='Hi {{ subscriber.name|default:"friend" }} in '
            '{{ subscriber.attributes.city|default:"your city" }}',
            subject='News for {{ subscriber.name|default:"you" }}',
        )
    )
    message = personalize(result, Recipient(email="x@example.org"))
    assert "Hi friend in your city" in message.text
    assert message.subject == "News for you"
    named = personalize(result, Recipient(email="x@example.org", name="Grace"))
    assert named.subject == "News for Grace"


def test_an_empty_value_before_punctuation_leaves_no_stray_space():
    result = render(
        make_input(
            body="Hello {{ subscriber.name }}, welcome!\n\nBye {{ subscriber.name }}.",
            subject="Hi {{ subscriber.name }}! News inside",
        )
    )
    nameless = personalize(result, Recipient(email="x@example.org"))
    assert nameless.subject == "Hi! News inside"
    for part in (nameless.html, nameless.text):
        assert "Hello, welcome!" in part and "Bye." in part
        assert "Hello ," not in part and "Bye ." not in part
    named = personalize(result, Recipient(email="x@example.org", name="Ada"))
    assert named.subject == "Hi Ada! News inside"
    assert "Hello Ada, welcome!" in named.html and "Bye Ada." in named.text


def test_a_subject_cannot_break_into_another_header():
    result = render(make_input(subject="Hello {{ subscriber.name }}"))
    message = personalize(result, Recipient(email="x@example.org", name="Eve\r\nBcc: all"))
    assert "\n" not in message.subject and "\r" not in message.subject


def test_an_unknown_merge_tag_is_an_error_with_its_line():
    result = render(make_input(body="Hello,\n\nYour plan: {{ subscriber.plan }}\n"))
    assert not result.ok
    (error,) = errors_of(result)
    assert error.startswith("line 3: unknown merge tag {{ subscriber.plan }}.")
    assert "subscriber.attributes.KEY" in error  # the editor sees what exists


@pytest.mark.parametrize(
    "tag",
    [
        "{{ settings.SECRET_KEY }}",
        "{{ subscriber.__class__ }}",
        "{{ subscriber.name.upper }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ subscriber.name|safe }}",
        "{% load static %}{{ content }}",
    ],
)
def test_nothing_outside_the_vocabulary_is_reachable(tag):
    result = render(make_input(body=f"Hi {tag}"))
    assert not result.ok
    assert "merge tag" in errors_of(result)[0]


def test_an_unclosed_merge_tag_is_an_error_with_its_line():
    result = render(make_input(body="One\nTwo {{ subscriber.name\n"))
    assert errors_of(result) == ['line 2: a merge tag opened with "{{" is never closed with "}}".']


def test_mjml_that_cannot_render_is_reported_with_its_line():
    body = "<mj-section>\n  <mj-column>\n    <mj-text>Hello</mj-text>\n  </mj-section>\n"
    result = render(make_input(body=body, body_format="mjml"))
    assert errors_of(result) == [
        "line 4: </mj-section> found, but <mj-column> opened on line 2 is still open."
    ]


def test_an_unknown_mjml_component_is_reported():
    result = render(
        make_input(body="<mj-section>\n<mj-colum>x</mj-colum>\n</mj-section>", body_format="mjml")
    )
    assert "line 2: <mj-colum> is not an MJML component." in errors_of(result)


def test_mjml_body_renders_as_written(reader):
    body = (
        '<mj-section><mj-column><mj-button href="{{ web_version_url }}">'
        "Read online</mj-button></mj-column></mj-section>"
    )
    message = personalize(render(make_input(body=body, body_format="mjml")), reader)
    assert "Read online" in message.html
    assert 'href="https://crier.example.org/n/demo/archive/demo-2-0/"' in message.html


def test_markdown_problems_are_reported_with_their_lines():
    body = "Intro\n\nSee [the docs](docs/index.html).\n\n<div>raw</div>\n\n![](https://x.example.org/a.png)\n"
    result = render(make_input(body=body))
    problems = [str(problem) for problem in result.problems]
    assert (
        'line 3: the link address "docs/index.html" is not absolute; mail clients need a full '
        "https:// address." in problems
    )
    assert any(p.startswith("line 5: raw HTML is shown as text") for p in problems)
    assert any(p.startswith("line 7: an image has no description") for p in problems)
    assert not result.ok  # the relative link is an error; the others are warnings


def test_a_layout_without_unsubscribe_preferences_or_address_is_refused():
    layout = (
        "<mjml><mj-body>{{ content }}"
        "<mj-section><mj-column><mj-text>Bye</mj-text></mj-column></mj-section>"
        "</mj-body></mjml>"
    )
    errors = errors_of(render(make_input(layout=layout)))
    assert any("visible unsubscribe link ({{ unsubscribe_url }})" in e for e in errors)
    assert any("preference center ({{ preferences_url }})" in e for e in errors)
    assert any("postal address ({{ newsletter.postal_address }})" in e for e in errors)


def test_a_layout_without_a_content_slot_is_refused():
    layout = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ unsubscribe_url }} "
        "{{ preferences_url }} {{ newsletter.postal_address }}</mj-text></mj-column>"
        "</mj-section></mj-body></mjml>"
    )
    assert errors_of(render(make_input(layout=layout))) == [
        "the layout has no {{ content }} slot, so the campaign body has nowhere to go."
    ]


def test_mj_include_is_refused():
    body = '<mj-section>\n<mj-include path="/etc/passwd" />\n</mj-section>'
    result = render(make_input(body=body, body_format="mjml"))
    assert "line 2: <mj-include> is not allowed" in errors_of(result)[0]


def test_an_oversized_message_warns_about_gmail_clipping():
    paragraph = "This paragraph is long enough to add up quickly. " * 20
    body = "\n\n".join([paragraph] * 120)
    result = render(make_input(body=body))
    assert result.ok  # a warning, not an error
    assert result.html_bytes > GMAIL_CLIP_BYTES
    (warning,) = [str(problem) for problem in result.warnings]
    assert "Gmail clips messages above about 102 KB" in warning


def test_a_normal_message_stays_under_the_clipping_threshold():
    result = render(make_input())
    assert result.html_bytes < GMAIL_CLIP_BYTES
    assert not result.warnings


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything opens a network connection."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network use during rendering: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return attempts


def test_remote_styles_and_fonts_are_dropped_with_a_warning_and_nothing_is_fetched(no_network):
    layout = (
        make_input()
        .layout.replace(
            "<mj-attributes>",
            '<mj-font name="Inter" href="https://fonts.example.com/inter.css" />\n<mj-attributes>',
        )
        .replace('<mj-all font-family="', '<mj-all font-family="Inter, ')
        .replace(
            "<mj-style>",
            "<mj-style>@import url(https://cdn.example.com/extra.css);\n",
        )
    )
    result = render(make_input(layout=layout))
    assert no_network == []
    assert result.ok
    html = result.html.source()
    assert "fonts.example.com" not in html and "cdn.example.com" not in html
    warnings = [str(problem) for problem in result.warnings]
    assert any("https://fonts.example.com/inter.css was removed" in w for w in warnings)
    assert any("https://cdn.example.com/extra.css was removed" in w for w in warnings)


def test_every_default_layout_renders_without_problems(default_layout, reader):
    result = render(make_input(layout=default_layout))
    assert result.problems == []
    message = personalize(result, reader)
    assert "Unsubscribe" in message.html and "Manage your preferences" in message.html
    assert 'lang="en"' in message.html
    assert 'name="color-scheme" content="light dark"' in message.html


def test_the_cached_form_round_trips_through_json(reader):
    result = render(make_input())
    stored = json.loads(json.dumps(result.html.as_dict()))
    restored = Rendered(
        digest=result.digest,
        problems=[],
        subject=result.subject,
        html=Compiled.from_dict(stored),
        text=result.text,
    )
    assert personalize(restored, reader).html == personalize(result, reader).html
    assert {slot.name for slot in restored.html.slots} >= {"subscriber.name", "unsubscribe_url"}


def test_the_same_input_gives_the_same_digest_and_a_change_a_new_one():
    assert make_input().digest() == make_input().digest()
    assert make_input().digest() != make_input(subject="Other").digest()
    assert make_input().digest() != make_input(postal_address="Elsewhere").digest()


def test_html_left_open_inside_mj_text_is_reported_with_its_line():
    body = (
        "<mj-section><mj-column>\n<mj-text>\nSome <b>bold text\n</mj-text>\n"
        "</mj-column></mj-section>"
    )
    result = render(make_input(body=body, body_format="mjml"))
    assert errors_of(result) == ["line 3: <b> inside <mj-text> is never closed."]


def test_mjml_that_mrml_refuses_is_an_error_with_its_message():
    with pytest.raises(RenderError) as caught:
        mjml.to_html("<mjml><mj-body><mj-section>")
    assert str(caught.value) == (
        "MJML could not be rendered: unexpected end of stream in root template."
    )


def test_merge_tags_work_as_markdown_link_targets(reader):
    body = '[Leave]({{ unsubscribe_url }}) or [tune]({{ preferences_url }} "Preferences")'
    message = personalize(render(make_input(body=body)), reader)
    link = message.html.split("Leave</a>")[0].rsplit("<a ", 1)[1]
    assert 'href="https://crier.example.org/s/unsubscribe/tok-1/"' in link
    assert 'href="https://crier.example.org/s/prefs/tok-1/" title="Preferences"' in message.html
