"""Per-recipient rendering: the cost of ``personalize`` on a pre-rendered ~40 KB newsletter.

The pipeline (Markdown, MJML, inlining, text part) runs once, as it does per
campaign; then every recipient gets a distinct name, address, attribute and
unsubscribe/preferences links. The figure is the median of several rounds.
As a peer measured in the same run, the same substitution done the obvious way
(``str.replace`` of each tag on the HTML and text) shows what precompiling buys.

A second measure adds what a multilingual campaign with conditional blocks costs
per recipient (``us_per_recipient_editions``): the reader's edition (English or
French), the facts their body's conditions ask about (a list, an attribute), the
variant for that combination (each rendered once, when first met: their total is
``variants_render_ms``, outside the per-recipient median), then the same fill.
"""

import html
import os
import platform
import statistics
import time
from dataclasses import replace

from campaigns.editions import edition_for
from campaigns.rendering import DEFAULT_LAYOUTS, Recipient, RenderInput, personalize, render
from campaigns.rendering.conditions import parse

NAME = "render"
RECIPIENTS = 20_000
ROUNDS = 5
TARGET_KB = 40

ITEM = """## {title}

Hello {{{{ subscriber.name|default:"friend" }}}}, this month in **Demo**: the plugin API
reached beta, the test suite runs in half the time, and the documentation has a new
tutorial. Read [the full story](https://demo.example.org/blog/{slug}) or
[the changelog](https://demo.example.org/changelog#{slug}).

```console
$ pip install --upgrade demo=={version}
```

| Area | Change |
|---|---|
| CLI | `--json` everywhere |
| Core | 3x faster start |

![Chart of startup time](https://demo.example.org/img/{slug}.png)
"""


CLOSING = '\n\nSee you in {{ subscriber.attributes.city|default:"your town" }}!\n'


def sample_body() -> str:
    """Digest items until the rendered HTML is about TARGET_KB."""
    items = []
    for number in range(1, 200):
        items.append(ITEM.format(title=f"Item {number}", slug=f"item-{number}", version=number))
        body = "\n---\n\n".join(items)
        result = render(_input(body))
        if result.html_bytes >= TARGET_KB * 1024:
            return body
    return body


def _input(body: str) -> RenderInput:
    layout = next(stock for stock in DEFAULT_LAYOUTS if stock.name == "Digest").mjml()
    return RenderInput(
        layout=layout,
        body=body + CLOSING,
        body_format="markdown",
        subject='Demo digest for {{ subscriber.name|default:"you" }}',
        preheader="Plugins, speed and a new tutorial",
        newsletter_name="Demo Project News",
        postal_address="Demo Project Association\n1 Example Street\n75000 Paris",
    )


CONDITIONAL = """

{% if list releases %}
## For release watchers

The release candidate is tagged: [test it](https://demo.example.org/rc) and tell us.
{% endif %}

{% if subscriber.attributes.plan == "pro" %}
Your priority support line is open: [book a call](https://demo.example.org/support).
{% else %}
Sponsors keep Demo going: [become one](https://demo.example.org/sponsor).
{% endif %}
"""
LANGUAGES = ("en", "fr", "fr-CA", "de", "")


class Editions:
    """A campaign in English and French with conditional blocks, as the sender meets it:
    one variant per (edition, facts) rendered when first needed, then reused."""

    def __init__(self, body: str) -> None:
        self.bodies = {
            "en": body + CONDITIONAL,
            "fr": body.replace("Hello", "Bonjour") + CONDITIONAL,
        }
        self.templates = {
            language: parse(text, body_format="markdown")[0]
            for language, text in self.bodies.items()
        }
        self.variants: dict = {}
        self.render_ms = 0.0

    def message(self, reader: tuple[Recipient, frozenset[str], str]):
        person, lists, language = reader
        edition = edition_for(language, ("fr",)) or "en"
        facts = self.templates[edition].facts(
            lists=lists, language=language, attributes=person.attributes
        )
        rendered = self.variants.get((edition, facts))
        if rendered is None:
            start = time.perf_counter()
            source = replace(_input(self.bodies[edition]), shown=facts, known_lists=("releases",))
            rendered = self.variants[edition, facts] = render(source)
            self.render_ms += (time.perf_counter() - start) * 1000
            if not rendered.ok:
                raise SystemExit(f"a variant does not render: {rendered.problems}")
        return personalize(rendered, person)


def readers(people: list[Recipient]) -> list[tuple[Recipient, frozenset[str], str]]:
    """The recipients with a language, a plan and the lists they are on, mixed."""
    return [
        (
            replace(person, attributes={**person.attributes, "plan": "pro" if n % 7 == 0 else ""}),
            frozenset({"releases"}) if n % 3 == 0 else frozenset(),
            LANGUAGES[n % len(LANGUAGES)],
        )
        for n, person in enumerate(people)
    ]


def recipients(count: int) -> list[Recipient]:
    return [
        Recipient(
            email=f"reader{n}@example.org",
            name=f"Reader <{n}> & co",
            attributes={"city": "Paris"},
            list_name="Announcements",
            unsubscribe_url=f"https://crier.example.org/s/unsubscribe/{n:012d}abcdef/",
            preferences_url=f"https://crier.example.org/s/prefs/{n:012d}abcdef/",
            web_version_url="https://crier.example.org/n/demo/archive/digest/",
        )
        for n in range(count)
    ]


def naive(html_source: str, text_source: str, recipient: Recipient) -> tuple[str, str]:
    """The peer: look each tag up and replace it in the whole document."""
    out = []
    for source, escape in ((html_source, True), (text_source, False)):
        for tag, value in (
            ('{{ subscriber.name|default:"friend" }}', recipient.name or "friend"),
            ("{{ unsubscribe_url }}", recipient.unsubscribe_url),
            ("{{ preferences_url }}", recipient.preferences_url),
            ("{{ web_version_url }}", recipient.web_version_url),
            ('{{ list.name|default:"this newsletter" }}', recipient.list_name),
            ('{{ subscriber.attributes.city|default:"your town" }}', recipient.attributes["city"]),
        ):
            source = source.replace(tag, html.escape(value) if escape else value)
        out.append(source)
    return out[0], out[1]


def _time_per_recipient(function, people: list[Recipient]) -> float:
    timings = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for person in people:
            function(person)
        timings.append((time.perf_counter() - start) / len(people) * 1e6)
    return statistics.median(timings)


def run() -> dict:
    body = sample_body()
    start = time.perf_counter()
    rendered = render(_input(body))
    render_ms = (time.perf_counter() - start) * 1000
    if not rendered.ok:
        raise SystemExit(f"the sample newsletter does not render: {rendered.problems}")
    people = recipients(RECIPIENTS)
    us = _time_per_recipient(lambda person: personalize(rendered, person), people)
    html_source, text_source = rendered.html.source(), rendered.text.source()
    peer_us = _time_per_recipient(lambda person: naive(html_source, text_source, person), people)
    editions = Editions(body)
    editions_us = _time_per_recipient(editions.message, readers(people))
    sample = personalize(rendered, people[0])
    result = {
        "bench": "render",
        "us_per_recipient": round(us, 2),
        "message_kb": round(len(sample.html.encode()) / 1024, 1),
        "text_kb": round(len(sample.text.encode()) / 1024, 1),
        "slots": len(rendered.html.slots) + len(rendered.text.slots),
        "recipients": RECIPIENTS,
        "rounds": ROUNDS,
        "render_once_ms": round(render_ms, 1),
        "peer_str_replace_us": round(peer_us, 2),
        "ratio": round(us / peer_us, 3),
        "us_per_recipient_editions": round(editions_us, 2),
        "variants": len(editions.variants),
        "variants_render_ms": round(editions.render_ms, 1),
        "target_us": 50,
    }
    print(
        f"render benchmark on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'measure':<34}{'value':>12}")
    for label, key in (
        ("per recipient (us, median)", "us_per_recipient"),
        ("peer: str.replace per tag (us)", "peer_str_replace_us"),
        ("ratio (ours / peer)", "ratio"),
        ("with editions and conditions (us)", "us_per_recipient_editions"),
        ("variants (edition x facts)", "variants"),
        ("their renders, once each (ms)", "variants_render_ms"),
        ("HTML part (KB)", "message_kb"),
        ("text part (KB)", "text_kb"),
        ("slots (HTML + text)", "slots"),
        ("pipeline, once per campaign (ms)", "render_once_ms"),
    ):
        print(f"{label:<34}{result[key]:>12}")
    return result
