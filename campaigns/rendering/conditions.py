"""Conditional blocks: parts of a body shown only to some readers.

An editor writes, each tag alone on its line, in Markdown or MJML alike::

    {% if list releases %}
    Shown to readers confirmed on the list whose slug is "releases".
    {% else %}
    Shown to everyone else.
    {% endif %}

Conditions, closed like merge tags (nothing is evaluated, ``mergetags``):
``list SLUG``, ``language CODE`` (the reader's own language, ``fr`` also matching
``fr-CA``), ``subscriber.attributes.KEY`` (has a value),
``subscriber.attributes.KEY == "value"`` and ``!= "value"``; ``not`` before any of
them turns it around. Blocks nest.

The body is cut into lines once; a reader's variant keeps the lines whose guards
all hold and leaves the others (and every tag line) empty, so line numbers of any
later problem stay those the editor sees, and Markdown reads each block as a
paragraph of its own. What varies between readers is only which *facts* hold (a
``Condition.key`` is a fact, ``not`` and ``!=`` only flip it): one variant per
distinct set of true facts, rendered once per campaign by the sender, however
many readers share it.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .problems import Level, Problem, Source

_TAG_LINE = re.compile(r"^\s*\{%(?P<inner>.*)%\}\s*$")
_TAG_ANYWHERE = re.compile(r"\{%\s*(if|else|endif)\b")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_LIST = re.compile(r"^(?P<not>not\s+)?list\s+(?P<slug>[-a-zA-Z0-9_]+)$")
_LANGUAGE = re.compile(
    r"^(?P<not>not\s+)?language\s+(?P<code>[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{2,8})*)$"
)
_ATTRIBUTE = re.compile(
    r"""^(?P<not>not\s+)?subscriber\.attributes\.(?P<key>[A-Za-z0-9_-]+)
        (?:\s*(?P<op>==|!=)\s*"(?P<value>[^"\n]*)")?$""",
    re.VERBOSE,
)
SYNTAX_HINT = (
    'write {% if list SLUG %}, {% if language fr %}, {% if subscriber.attributes.KEY == "value" %} '
    "(or !=), any of them with not, then {% else %} if wanted, and {% endif %}"
)


@dataclass(frozen=True, slots=True)
class Condition:
    """One fact about a reader: on a list, in a language, or an attribute's value."""

    kind: str  # "list", "language" or "attribute"
    name: str  # the list's slug, the language code, or the attribute's key
    value: str | None = None  # attribute: the value compared with; None: has any value

    @property
    def key(self) -> str:
        if self.kind == "attribute" and self.value is not None:
            return f"attribute:{self.name}={self.value}"
        return f"{self.kind}:{self.name}"

    def holds(self, *, lists: Iterable[str], language: str, attributes: Mapping) -> bool:
        if self.kind == "list":
            return self.name in lists
        if self.kind == "language":
            return language_matches(language, self.name)
        found = attributes.get(self.name)
        if self.value is None:
            return found not in (None, "", False, [], {})
        return attribute_text(found) == self.value


def attribute_text(value: object) -> str:
    """An attribute as the text a condition compares: JSON's true/false, not Python's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def language_matches(reader: str, wanted: str) -> bool:
    """``fr`` is ``fr``, ``FR`` and ``fr-CA``; ``fr-CA`` is only ``fr-CA``."""
    reader = reader.strip().lower()
    return reader == wanted or reader.split("-", 1)[0] == wanted


@dataclass(frozen=True)
class Template:
    """A body cut into lines, each with the guards (fact key, wanted truth) it needs."""

    lines: tuple[str, ...]
    guards: tuple[tuple[tuple[str, bool], ...] | None, ...]  # None: a tag line
    conditions: tuple[Condition, ...]  # each fact once, in order of appearance
    # Each branch as (line of its tag, first content index, end index), 0-based.
    branches: tuple[tuple[int, int, int], ...] = ()

    @property
    def has_conditions(self) -> bool:
        return bool(self.conditions)

    def text(self, shown: frozenset[str] = frozenset(), *, all_branches: bool = False) -> str:
        """The body for a reader of whom the facts ``shown`` hold (every branch kept with
        ``all_branches``, to check them all); hidden and tag lines left empty."""
        if not self.conditions:
            return "\n".join(self.lines)
        kept = []
        for line, guards in zip(self.lines, self.guards, strict=True):
            if guards is None:
                kept.append("")
            elif all_branches or all((key in shown) == wanted for key, wanted in guards):
                kept.append(line)
            else:
                kept.append("")
        return "\n".join(kept)

    def facts(self, *, lists: Iterable[str], language: str, attributes: Mapping) -> frozenset[str]:
        """The keys of this body's facts that hold for a reader: what picks their variant."""
        return frozenset(
            condition.key
            for condition in self.conditions
            if condition.holds(lists=lists, language=language, attributes=attributes)
        )

    def list_slugs(self) -> frozenset[str]:
        return frozenset(c.name for c in self.conditions if c.kind == "list")

    def branch_texts(self):
        """Each branch's lines (inner tags blanked, inner branches kept), with the line
        of its tag and the 0-based index of its first line: MJML must balance in each."""
        every = self.text(all_branches=True).split("\n")
        for tag_line, start, end in self.branches:
            yield tag_line, start, "\n".join(every[start:end])


def parse(
    body: str, *, body_format: str, known_lists: Iterable[str] | None = None
) -> tuple[Template, list[Problem]]:
    """Read the body's conditional blocks; problems name their line.

    ``known_lists`` are the newsletter's list slugs (None: not checked, for
    callers that only select a variant of a body checked before).
    """
    known = None if known_lists is None else frozenset(known_lists)
    lines = body.split("\n")
    guards: list[tuple[tuple[str, bool], ...] | None] = []
    conditions: dict[str, Condition] = {}
    problems: list[Problem] = []
    # Each open block: [fact key, wanted truth, line of its if, seen an else, line of
    # its current branch's tag].
    stack: list[list] = []
    branches: list[tuple[int, int, int]] = []
    in_fence = False

    def error(message: str, number: int) -> None:
        problems.append(Problem(Level.ERROR, Source.BODY, message, number))

    for number, line in enumerate(lines, start=1):
        current = tuple((key, wanted) for key, wanted, *_ in stack)
        if body_format == "markdown" and _FENCE.match(line):
            in_fence = not in_fence
        tag = None if in_fence else _TAG_LINE.match(line)
        if tag is None:
            if not in_fence and _TAG_ANYWHERE.search(line):
                error(
                    "a condition tag ({% if %}, {% else %}, {% endif %}) must be alone on "
                    "its line.",
                    number,
                )
            guards.append(current)
            continue
        guards.append(None)
        inner = " ".join(tag.group("inner").split())
        word, _, rest = inner.partition(" ")
        if word == "if":
            condition, negate = _condition(rest)
            if condition is None:
                error(f"cannot read the condition {{% {inner} %}}; {SYNTAX_HINT}.", number)
                condition, negate = Condition("invalid", str(number)), False
            elif condition.kind == "list" and known is not None and condition.name not in known:
                error(
                    f'{{% {inner} %}}: this newsletter has no list "{condition.name}"; '
                    "use a list's slug, as shown on its page.",
                    number,
                )
            conditions.setdefault(condition.key, condition)
            stack.append([condition.key, not negate, number, False, number])
        elif word == "else" and not rest:
            if not stack:
                error("{% else %} without an {% if %} before it.", number)
            elif stack[-1][3]:
                error(f"a second {{% else %}} for the {{% if %}} of line {stack[-1][2]}.", number)
            else:
                branches.append((stack[-1][4], stack[-1][4], number - 1))
                stack[-1][1] = not stack[-1][1]
                stack[-1][3] = True
                stack[-1][4] = number
        elif word == "endif" and not rest:
            if not stack:
                error("{% endif %} without an {% if %} before it.", number)
            else:
                branches.append((stack[-1][4], stack[-1][4], number - 1))
                stack.pop()
        else:
            error(f"unknown tag {{% {inner} %}}; {SYNTAX_HINT}.", number)
    for _key, _wanted, number, *_ in stack:
        error("this {% if %} is never closed with {% endif %}.", number)
    valid = tuple(c for c in conditions.values() if c.kind != "invalid")
    template = Template(
        lines=tuple(lines), guards=tuple(guards), conditions=valid, branches=tuple(branches)
    )
    return template, problems


def _condition(text: str) -> tuple[Condition | None, bool]:
    """The condition an ``if`` names and whether it is negated; None if unreadable."""
    if found := _LIST.match(text):
        return Condition("list", found.group("slug")), bool(found.group("not"))
    if found := _LANGUAGE.match(text):
        return Condition("language", found.group("code").lower()), bool(found.group("not"))
    if found := _ATTRIBUTE.match(text):
        negate = bool(found.group("not")) != (found.group("op") == "!=")
        return Condition("attribute", found.group("key"), found.group("value")), negate
    return None, False
