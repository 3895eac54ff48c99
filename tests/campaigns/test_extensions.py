"""What other apps add to campaigns: reader links, blocks, per-recipient values.

A made-up app registers here ("poll" blocks and a "{{ gift_url }}" reader link), so
that the extension points are tested apart from the participation app that uses them.
"""

import dataclasses

import pytest

from campaigns import extensions
from campaigns.rendering import Block, Recipient, personalize, render
from campaigns.services import campaign_render, live_preview
from delivery.messages import Addressee, CampaignMessages
from tests.campaigns.samples import make_input
from tests.factories import CampaignFactory, NewsletterFactory

POLL = Block(
    name="poll.colour",
    mjml=(
        '<mj-text css-class="crier-text"><p>Which colour?</p>'
        '<p><a href="https://site.example/p/{{ poll.reader|default:"web" }}/?c=1">Blue</a></p>'
        "</mj-text>"
    ),
    reader_tags=("poll.reader",),
)
GIFT = ("gift_url", "https://site.example/gift/")


def rendered_with(body: str, body_format: str = "markdown", **overrides):
    return render(
        make_input(
            body=body, body_format=body_format, reader_links=(GIFT,), blocks=(POLL,), **overrides
        )
    )


def errors_of(result) -> list[str]:
    return [str(problem) for problem in result.errors]


def test_a_block_alone_on_its_line_becomes_its_markup_with_defaults_for_nobody():
    result = rendered_with("Hello,\n\n{{ poll.colour }}\n\nThanks.")
    assert result.ok, result.problems
    html = personalize(result, Recipient(email="a@example.org")).html
    assert "Which colour?" in html
    assert 'href="https://site.example/p/web/?c=1"' in html
    assert html.index("Hello,") < html.index("Which colour?") < html.index("Thanks.")
    assert "poll.reader" in {slot.name for slot in result.html.slots}


def test_a_block_inside_a_sentence_or_outside_the_body_is_an_error_with_its_line():
    inline = rendered_with("Hello,\n\nvote {{ poll.colour }} now")
    assert errors_of(inline) == [
        "line 3: a block tag (a consultation, a goal…) must be alone on its line, "
        "with an empty line before and after it."
    ]
    in_subject = rendered_with("Hello", subject="Vote {{ poll.colour }}")
    assert "A block can only be used in the body." in errors_of(in_subject)[0]


def test_a_block_s_own_reader_tags_are_not_for_editors():
    result = rendered_with("Hello {{ poll.reader }}")
    assert "unknown merge tag {{ poll.reader }}" in errors_of(result)[0]


def test_a_block_that_cannot_be_shown_says_why_at_its_line():
    missing = Block(name="poll.nope", error="there is no poll “nope” in this newsletter.")
    result = render(make_input(body="Hi\n\n{{ poll.nope }}\n", blocks=(missing,)))
    assert errors_of(result) == ["line 3: there is no poll “nope” in this newsletter."]


def test_in_mjml_a_block_goes_in_a_column_not_in_a_text():
    good = rendered_with(
        "<mj-section><mj-column>\n{{ poll.colour }}\n</mj-column></mj-section>", "mjml"
    )
    assert good.ok, good.problems
    assert "Which colour?" in personalize(good, Recipient(email="a@example.org")).html
    bad = rendered_with(
        "<mj-section><mj-column><mj-text>\n{{ poll.colour }}\n</mj-text></mj-column></mj-section>",
        "mjml",
    )
    assert any("cannot be inside <mj-text>" in error for error in errors_of(bad))


def test_a_reader_link_is_in_the_vocabulary_with_its_fallback_for_nobody():
    result = rendered_with("Share: {{ gift_url }}", layout=make_input().layout)
    assert result.ok, result.problems
    assert "Share: https://site.example/gift/" in personalize(result, Recipient(email="")).text
    explicit = rendered_with('Share: {{ gift_url|default:"none" }}')
    assert "Share: none" in personalize(explicit, Recipient(email="")).text
    unknown = render(make_input(body="Share: {{ gift_url }}"))
    assert "unknown merge tag {{ gift_url }}" in errors_of(unknown)[0]


def test_reader_links_a_text_does_not_use_leave_the_digest_as_it_was():
    plain = make_input()
    assert dataclasses.replace(plain, reader_links=(GIFT,)).digest() == plain.digest()
    used = make_input(body="{{ gift_url }}", reader_links=(GIFT,))
    assert used.digest() != dataclasses.replace(used, reader_links=(("gift_url", "x"),)).digest()
    assert dataclasses.replace(plain, blocks=(POLL,)).digest() != plain.digest()


@pytest.fixture
def poll_app(settings):
    """Register the made-up app, and restore the registry afterwards."""
    settings.SITE_URL = "https://news.example.org"
    saved = {name: value.copy() for name, value in vars(extensions._registry).items()}
    calls = []

    def filler_for(campaign, used):
        if "poll.reader" not in used:
            return None

        def fill(subscriber_id, delivery_id):
            calls.append((subscriber_id, delivery_id))
            return {"poll.reader": f"r{subscriber_id}"}

        return fill

    extensions.register_block(
        extensions.BlockKind("poll", "a test poll", lambda newsletter, key: POLL)
    )
    extensions.register_reader_link(
        extensions.ReaderLink("gift_url", "a test link", lambda newsletter: GIFT[1])
    )
    extensions.register_reader_values(filler_for)
    yield calls
    for name, value in saved.items():
        setattr(extensions._registry, name, value)


@pytest.mark.django_db
def test_each_recipient_gets_their_own_values_without_a_render(poll_app):
    campaign = CampaignFactory(body="Hi\n\n{{ poll.colour }}\n\nShare {{ gift_url }}")
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    html = messages.build(Addressee(7, 42, "ada@example.org", "Ada", {}, "News")).alternatives[0][0]
    assert 'href="https://site.example/p/r42/?c=1"' in html
    raw = messages.build_raw(Addressee(8, 43, "bob@example.org", "Bob", {}, "News"))
    assert b"https://site.example/p/r43/?c=1" in raw.replace(b"=\r\n", b"").replace(b"=3D", b"=")
    assert poll_app == [(42, 7), (43, 8)]


@pytest.mark.django_db
def test_a_campaign_without_the_app_s_slots_costs_it_nothing(poll_app):
    campaign = CampaignFactory(body="Nothing to vote on.")
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    assert messages.default.fillers == []
    messages.build(Addressee(7, 42, "ada@example.org", "Ada", {}, "News"))
    assert poll_app == []


@pytest.mark.django_db
def test_the_live_preview_and_the_registry_agree(poll_app):
    newsletter = NewsletterFactory()
    preview = live_preview(
        newsletter=newsletter,
        layout=CampaignFactory(newsletter=newsletter).layout,
        body="{{ poll.colour }}",
        body_format="markdown",
        subject="Vote",
        preheader="",
    )
    assert preview.result.ok, preview.result.problems
    assert 'href="https://site.example/p/web/?c=1"' in preview.html
