"""Merge tags: a fixed vocabulary, never a template engine.

Editors write ``{{ subscriber.name }}`` or ``{{ subscriber.name|default:"friend" }}``.
Nothing here evaluates an expression: a tag is a name looked up in a closed list,
so campaign text cannot reach settings, the environment or Python (listmonk's
CVSS 9.1 template-injection advisory was exactly that). Unknown names are errors
at save time.

Before rendering, every tag is swapped for an opaque alphanumeric token that
Markdown, MJML, premailer and html2text all pass through untouched; after
rendering, the tokens are compiled into literal chunks and slots so that each
recipient costs one ``str.join``.
"""

import hashlib
import html
import re
from dataclasses import dataclass, field

from .problems import Level, Problem, Source, line_of

RECIPIENT_TAGS = {
    "subscriber.name": "the subscriber's name",
    "subscriber.email": "the subscriber's address",
    "subscriber.attributes.KEY": "an attribute of the subscriber, e.g. subscriber.attributes.city",
    "list.name": "the list this mail is sent to",
    "unsubscribe_url": "the one-click unsubscribe link",
    "preferences_url": "the preference center link",
    "web_version_url": "the web version in the public archive",
}
CONSTANT_TAGS = {
    "newsletter.name": "the newsletter's name",
    "newsletter.postal_address": "the newsletter's postal address",
}
LAYOUT_TAGS = {
    "content": "where the campaign body goes (layouts only)",
    "preheader": "the campaign's preheader (layouts only)",
    "campaign.subject": "the campaign's subject",
}
ATTRIBUTE_PREFIX = "subscriber.attributes."

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_INNER = re.compile(
    r"""\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*
        (?:\|\s*default\s*:\s*"(?P<default>[^"\n]*)"\s*)?$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Slot:
    name: str
    default: str = ""

    def __str__(self) -> str:
        if self.default:
            return f'{{{{ {self.name}|default:"{self.default}" }}}}'
        return f"{{{{ {self.name} }}}}"


def known(name: str, *, in_layout: bool, extra: frozenset[str] = frozenset()) -> bool:
    """Whether ``name`` is in the vocabulary; ``extra`` holds the tags other apps add
    (reader links, blocks) for this render."""
    if name in RECIPIENT_TAGS or name in CONSTANT_TAGS or name in extra:
        return True
    if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
        return "." not in name[len(ATTRIBUTE_PREFIX) :]
    return in_layout and name in LAYOUT_TAGS


def vocabulary(*, in_layout: bool, extra: tuple[str, ...] = ()) -> list[str]:
    names = [*RECIPIENT_TAGS, *CONSTANT_TAGS, *extra]
    if in_layout:
        names += list(LAYOUT_TAGS)
    return names


@dataclass
class Tokenizer:
    """Swaps merge tags for tokens; one per render, shared by every source text.

    The nonce is derived from the inputs and checked against them, so a token can
    never collide with text the editor wrote.

    ``links`` are the reader links other apps add to the vocabulary (name → the value
    shown when there is no reader: previews, tests, the archive); ``blocks`` the
    block tags the body may use (name → why it cannot be shown, or "").
    """

    seed: str
    slots: list[Slot] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counter = 0
        while True:
            digest = hashlib.sha256(f"{counter}:{self.seed}".encode()).hexdigest()[:10]
            self.prefix = f"crier{digest}t"
            if self.prefix not in self.seed:
                break
            counter += 1
        self.pattern = re.compile(re.escape(self.prefix) + r"(\d+)x")

    def token(self, slot: Slot) -> str:
        if slot not in self.slots:
            self.slots.append(slot)
        return f"{self.prefix}{self.slots.index(slot)}x"

    def token_for(self, name: str) -> str | None:
        """The token of a layout tag such as ``content``, if the text used it."""
        for index, slot in enumerate(self.slots):
            if slot.name == name:
                return f"{self.prefix}{index}x"
        return None

    def replace(
        self,
        text: str,
        *,
        source: Source,
        in_layout: bool = False,
        own_tags: tuple[str, ...] = (),
    ):
        """Return ``text`` with tags swapped for tokens, and the problems found.

        Block tags are known in the body only; ``own_tags`` are the reader tags a
        block's own markup uses, known there and nowhere else.
        """
        problems: list[Problem] = []
        in_body = source == Source.BODY and not in_layout and not own_tags
        extra = frozenset([*self.links, *own_tags, *(self.blocks if in_body else ())])

        def swap(match: re.Match) -> str:
            inner = _INNER.match(match.group(1))
            line = line_of(text, match.start())
            if inner is None:
                problems.append(
                    Problem(
                        Level.ERROR,
                        source,
                        f"cannot read the merge tag {match.group(0)}; write it like "
                        '{{ subscriber.name }} or {{ subscriber.name|default:"friend" }}.',
                        line,
                    )
                )
                return match.group(0)
            name = inner.group("name")
            if not known(name, in_layout=in_layout, extra=extra):
                hint = " It can only be used in a layout." if name in LAYOUT_TAGS else ""
                if name in self.blocks:
                    hint = " A block can only be used in the body."
                problems.append(
                    Problem(
                        Level.ERROR,
                        source,
                        f"unknown merge tag {{{{ {name} }}}}.{hint} Known tags: "
                        + ", ".join(vocabulary(in_layout=in_layout, extra=tuple(self.links)))
                        + ".",
                        line,
                    )
                )
                return match.group(0)
            if self.blocks.get(name) and name in extra:
                problems.append(Problem(Level.ERROR, source, self.blocks[name], line))
                return match.group(0)
            default = inner.group("default") or self.links.get(name, "")
            return self.token(Slot(name, default))

        replaced = _TAG.sub(swap, text)
        for leftover in re.finditer(r"\{\{", _TAG.sub(lambda m: " " * len(m.group(0)), text)):
            problems.append(
                Problem(
                    Level.ERROR,
                    source,
                    'a merge tag opened with "{{" is never closed with "}}".',
                    line_of(text, leftover.start()),
                )
            )
        return replaced, problems

    def compile(self, text: str, *, constants: dict[str, str], mode: str) -> "Compiled":
        """Split rendered ``text`` into literal chunks and recipient slots.

        Constants (the newsletter's name and address) are the same for every
        recipient, so they are folded into the literals here, once.
        """
        pieces: list[str] = []
        positions: list[tuple[int, int]] = []
        used: list[Slot] = []
        last = 0
        literal = ""
        for match in self.pattern.finditer(text):
            literal += text[last : match.start()]
            last = match.end()
            slot = self.slots[int(match.group(1))]
            if slot.name in constants:
                literal += escape(constants[slot.name] or slot.default, mode)
                continue
            pieces.append(literal)
            literal = ""
            if slot not in used:
                used.append(slot)
            positions.append((len(pieces), used.index(slot)))
            pieces.append("")
        pieces.append(literal + text[last:])
        return Compiled(mode=mode, pieces=pieces, positions=positions, slots=used)


def escape(value: str, mode: str) -> str:
    """HTML-escape for the HTML part; raw for text; one line for a header."""
    if mode == "html":
        return html.escape(value, quote=True).replace("\n", "<br>")
    if mode == "header":
        return " ".join(value.split())
    return value


# What may follow a tag left empty, taking the space before the tag along.
CLOSING_PUNCTUATION = frozenset(",.;:!?)")


@dataclass
class Compiled:
    """A rendered part as literal chunks with holes; what is cached on the campaign."""

    mode: str
    pieces: list[str]
    positions: list[tuple[int, int]]  # (index in pieces, index in slots)
    slots: list[Slot]

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "pieces": self.pieces,
            "positions": [list(position) for position in self.positions],
            "slots": [[slot.name, slot.default] for slot in self.slots],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Compiled":
        return cls(
            mode=data["mode"],
            pieces=list(data["pieces"]),
            positions=[tuple(position) for position in data["positions"]],
            slots=[Slot(name, default) for name, default in data["slots"]],
        )

    def fill(self, values: list[str]) -> str:
        """Join the chunks with ``values`` (one per slot, already escaped for this mode).

        An empty value takes the space before it along when punctuation follows, so a
        reader without a name gets "Hello," rather than "Hello ," (give the tag a
        default, ``{{ subscriber.name|default:"there" }}``, for "Hello there,").
        """
        pieces = self.pieces.copy()
        for position, slot_index in self.positions:
            value = values[slot_index]
            pieces[position] = value
            if not value and pieces[position + 1][:1] in CLOSING_PUNCTUATION:
                pieces[position - 1] = pieces[position - 1].rstrip(" ")
        return "".join(pieces)

    def source(self) -> str:
        """The part with readable tags in its holes, for display and debugging."""
        return self.fill([str(slot) for slot in self.slots])
