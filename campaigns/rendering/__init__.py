"""The rendering pipeline, pure: text in, compiled message out; no database, no network.

    layout + body → merge tags swapped for tokens → Markdown → MJML blocks
    → mjml-python → HTML → remote styles dropped → premailer inlining
    → text part (html2text) → compiled into literal chunks and slots

It runs once per campaign (``campaigns.services.campaign_render`` caches the
result); per recipient, ``personalize`` only fills the slots.
"""

import hashlib
import html
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from newsletter.headers import has_line_break

from . import conditions, inline, markdown, mjml, text
from .mergetags import ATTRIBUTE_PREFIX, Compiled, Tokenizer, escape
from .problems import Level, Problem, RenderError, Source

__all__ = [
    "DEFAULT_LAYOUTS",
    "GMAIL_CLIP_BYTES",
    "Block",
    "Level",
    "Message",
    "Problem",
    "Recipient",
    "RenderInput",
    "Rendered",
    "Source",
    "personalize",
    "render",
]

# Bump when the pipeline's output changes, so cached renders are redone.
PIPELINE_VERSION = 2
# Gmail hides everything after the first ~102 KB of a message behind "View entire message".
GMAIL_CLIP_BYTES = 102 * 1024
REQUIRED_IN_LAYOUT = {
    "unsubscribe_url": "a visible unsubscribe link ({{ unsubscribe_url }})",
    "preferences_url": "a link to the preference center ({{ preferences_url }})",
    "newsletter.postal_address": "the postal address ({{ newsletter.postal_address }})",
}


@dataclass(frozen=True)
class StockLayout:
    """A layout shipped with Crier; ``services.install_default_layouts`` copies it."""

    name: str
    filename: str
    description: str

    def mjml(self) -> str:
        return (Path(__file__).resolve().parent / "default_layouts" / self.filename).read_text()


DEFAULT_LAYOUTS = [
    StockLayout(
        "Announcement",
        "announcement.mjml",
        "One story with a title: a release, an event, a call for help.",
    ),
    StockLayout(
        "Release notes",
        "release-notes.mjml",
        "A green 'Release notes' band; ## headings (Added, Fixed…) read as changelog sections.",
    ),
    StockLayout(
        "Digest",
        "digest.mjml",
        "Several items, each separated by --- in Markdown, each shown as its own card.",
    ),
]


@dataclass(frozen=True)
class Block:
    """Markup another app puts where the body has ``{{ name }}`` on a line of its own.

    ``mjml`` is column content (``mj-text``, ``mj-button``, …). It may use the
    reader tags named in ``reader_tags`` (and only it may): slots each recipient
    fills, such as a consultation's answer token, whose default is what previews,
    tests and the archive show. ``error`` says why the block cannot be shown (no
    such consultation…): it is reported at the tag's line.
    """

    name: str
    mjml: str = ""
    reader_tags: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class RenderInput:
    layout: str
    body: str
    body_format: str  # "markdown" or "mjml"
    subject: str
    preheader: str = ""
    newsletter_name: str = ""
    postal_address: str = ""
    # Added by other apps (campaigns.extensions): reader links as (name, value when
    # there is no reader), and the blocks the body names.
    reader_links: tuple[tuple[str, str], ...] = ()
    blocks: tuple[Block, ...] = ()
    # Conditional blocks (``conditions``): the newsletter's list slugs a condition may
    # name (None: not checked), the facts that hold for the reader this variant is
    # for (none: the neutral variant, the archive's), or every branch at once (only
    # to check them all, never sent).
    known_lists: tuple[str, ...] | None = None
    shown: frozenset[str] = frozenset()
    all_branches: bool = False

    def digest(self) -> str:
        """Identifies the output: equal digests render to the same message.

        Reader links count only when a text uses them, so that a campaign without
        any keeps the digest (and cached render) it had before they existed.
        """
        texts = "\n".join((self.layout, self.body, self.subject, self.preheader))
        payload = [
            PIPELINE_VERSION,
            self.layout,
            self.body,
            self.body_format,
            self.subject,
            self.preheader,
            self.newsletter_name,
            self.postal_address,
        ]
        links = [list(link) for link in self.reader_links if link[0] in texts]
        if links or self.blocks:
            payload += [links, [asdict(block) for block in self.blocks]]
        if "{%" in self.body:
            lists = None if self.known_lists is None else sorted(self.known_lists)
            payload += [lists, sorted(self.shown), self.all_branches]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Rendered:
    digest: str
    problems: list[Problem]
    subject: Compiled | None = None
    html: Compiled | None = None
    text: Compiled | None = None
    html_bytes: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.level == Level.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.level == Level.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors and self.html is not None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Everything a message needs to know about one recipient; built by the sender."""

    email: str
    name: str = ""
    attributes: dict = field(default_factory=dict)
    list_name: str = ""
    unsubscribe_url: str = ""
    preferences_url: str = ""
    web_version_url: str = ""

    def values(self) -> dict[str, str]:
        """Every merge tag's raw value for this recipient (attributes are looked up apart)."""
        return {
            "subscriber.name": self.name,
            "subscriber.email": self.email,
            "list.name": self.list_name,
            "unsubscribe_url": self.unsubscribe_url,
            "preferences_url": self.preferences_url,
            "web_version_url": self.web_version_url,
        }

    def attribute(self, name: str) -> str:
        found = self.attributes.get(name.removeprefix(ATTRIBUTE_PREFIX))
        return "" if found is None else str(found)


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    html: str
    text: str


def personalize(rendered: Rendered, recipient: Recipient) -> Message:
    """Fill the slots for one recipient: lookups, escaping and joins only, no parsing."""
    values = recipient.values()
    return Message(
        subject=_fill(rendered.subject, values, recipient),
        html=_fill(rendered.html, values, recipient),
        text=_fill(rendered.text, values, recipient),
    )


def slot_values(part: Compiled, values: dict[str, str], recipient: Recipient) -> list[str]:
    """The recipient's value (or the tag's default) for each slot, escaped for the part.

    ``values`` is ``recipient.values()``, computed once for all parts of a message.
    """
    mode = part.mode
    filled = []
    for slot in part.slots:
        value = values.get(slot.name)
        if value is None:
            value = recipient.attribute(slot.name)
        filled.append(escape(value or slot.default, mode))
    return filled


def _fill(part: Compiled, values: dict[str, str], recipient: Recipient) -> str:
    return part.fill(slot_values(part, values, recipient))


def render(source: RenderInput) -> Rendered:
    """Run the whole pipeline. Never raises for bad input: problems say what is wrong.

    With conditional blocks, the neutral variant (no fact holds: the one stored,
    checked before sending and shown by the archive) also carries the problems of
    every branch: an error in a block few readers get is found when it is saved.
    """
    result, template = _render(source)
    if template.has_conditions and not source.shown and not source.all_branches:
        every, _ = _render(replace(source, all_branches=True))
        found = every.problems
        if source.body_format == "mjml":
            found = found + _unbalanced_branches(template)
        result.problems += [problem for problem in found if problem not in result.problems]
    return result


def _unbalanced_branches(template: conditions.Template) -> list[Problem]:
    """In MJML, each branch must open and close its own tags: a reader gets one branch
    without the other, and their variant would not render (or not as written)."""
    problems = []
    for tag_line, start, branch in template.branch_texts():
        for problem in mjml.check(branch, source=Source.BODY):
            problems.append(
                replace(
                    problem,
                    line=problem.line + start if problem.line else tag_line,
                    message=f"in the conditional block of line {tag_line}, {problem.message}",
                )
            )
    return problems


def _render(source: RenderInput) -> tuple[Rendered, conditions.Template]:
    result = Rendered(digest=source.digest(), problems=[])
    template, found = conditions.parse(
        source.body, body_format=source.body_format, known_lists=source.known_lists
    )
    result.problems += found
    body_text = template.text(source.shown, all_branches=source.all_branches)
    blocks = {block.name: block for block in source.blocks}
    tokens = Tokenizer(
        seed="\n".join(
            (
                source.layout,
                source.body,
                source.subject,
                source.preheader,
                *(block.mjml for block in source.blocks),
            )
        ),
        links=dict(source.reader_links),
        blocks={name: block.error for name, block in blocks.items()},
    )
    layout, found = tokens.replace(source.layout, source=Source.LAYOUT, in_layout=True)
    result.problems += found
    body, found = tokens.replace(body_text, source=Source.BODY)
    result.problems += found
    subject, found = tokens.replace(source.subject, source=Source.SUBJECT)
    result.problems += found
    preheader, found = tokens.replace(source.preheader, source=Source.PREHEADER)
    result.problems += found
    if not source.subject.strip():
        result.problems.append(Problem(Level.ERROR, Source.SUBJECT, "the subject is empty."))
    if has_line_break(source.subject):
        result.problems.append(
            Problem(
                Level.ERROR,
                Source.SUBJECT,
                "the subject has a line break; a header must stay on one line.",
            )
        )
    if not source.body.strip():
        result.problems.append(Problem(Level.ERROR, Source.BODY, "the body is empty."))
    result.problems += _check_layout(source.layout, layout, tokens)

    used_blocks = {
        token: blocks[name]
        for name in blocks
        if (token := tokens.token_for(name)) is not None and token in body
    }
    if source.body_format == "markdown":
        body, found = markdown.to_mjml(
            body,
            is_token=lambda url: bool(tokens.pattern.fullmatch(url)),
            block_tokens=set(used_blocks),
        )
    else:
        found = mjml.check(body_text, source=Source.BODY)
        found += mjml.check_blocks(body, block_tokens=set(used_blocks))
    result.problems += found
    for token, block in used_blocks.items():
        markup, found = tokens.replace(block.mjml, source=Source.BODY, own_tags=block.reader_tags)
        result.problems += found
        body = body.replace(token, markup)
    if result.errors:
        return result, template

    document = layout
    for name, value in (
        ("content", body),
        ("campaign.subject", html.escape(subject, quote=False)),
        ("preheader", html.escape(preheader, quote=False)),
    ):
        token = tokens.token_for(name)
        if token:
            document = document.replace(token, value)
    try:
        rendered_html = mjml.to_html(document)
    except RenderError as error:
        result.problems += error.problems
        return result, template
    rendered_html, found = inline.strip_remote(rendered_html)
    result.problems += found
    rendered_html = inline.inline(rendered_html)
    rendered_text = text.to_text(rendered_html)

    constants = {
        "newsletter.name": source.newsletter_name,
        "newsletter.postal_address": source.postal_address,
    }
    result.subject = tokens.compile(subject, constants=constants, mode="header")
    result.html = tokens.compile(rendered_html, constants=constants, mode="html")
    result.text = tokens.compile(rendered_text, constants=constants, mode="text")
    result.html_bytes = len(result.html.source().encode())
    if result.html_bytes > GMAIL_CLIP_BYTES:
        result.problems.append(
            Problem(
                Level.WARNING,
                Source.MESSAGE,
                f"the HTML part is {result.html_bytes / 1024:.0f} KB; Gmail clips messages "
                f"above about {GMAIL_CLIP_BYTES // 1024} KB and hides the rest, including "
                "the unsubscribe link. Shorten the content or move images to links.",
            )
        )
    return result, template


def _check_layout(original: str, tokenized: str, tokens: Tokenizer) -> list[Problem]:
    """A layout needs one content slot and the footer that bulk-sender rules require."""
    problems = mjml.check(original, source=Source.LAYOUT)
    used = {tokens.slots[int(index)].name for index in tokens.pattern.findall(tokenized)}
    content = tokens.token_for("content")
    if content is None or content not in tokenized:
        problems.append(
            Problem(
                Level.ERROR,
                Source.LAYOUT,
                "the layout has no {{ content }} slot, so the campaign body has nowhere to go.",
            )
        )
    elif tokenized.count(content) > 1:
        problems.append(
            Problem(Level.ERROR, Source.LAYOUT, "the layout has more than one {{ content }} slot.")
        )
    for name, what in REQUIRED_IN_LAYOUT.items():
        if name not in used:
            problems.append(
                Problem(
                    Level.ERROR,
                    Source.LAYOUT,
                    f"the layout's footer must carry {what}; Gmail, Yahoo and CAN-SPAM "
                    "require it in every bulk message.",
                )
            )
    return problems
