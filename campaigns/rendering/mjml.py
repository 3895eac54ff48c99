"""MJML → HTML with mjml-python (MRML, in-process: no Node, no network).

MRML's own errors rarely say where the problem is, so the source is first read
with the standard library's HTML parser, which knows line numbers: unclosed or
mismatched ``mj-*`` tags, unknown components, and HTML left open inside an
``mj-text`` (which MRML refuses as "unexpected end of stream") are reported on
their line.
"""

from html.parser import HTMLParser

from mjml import mjml2html

from .problems import Level, Problem, RenderError, Source

COMPONENTS = {
    "mjml", "mj-head", "mj-body", "mj-attributes", "mj-all", "mj-class", "mj-breakpoint",
    "mj-font", "mj-preview", "mj-style", "mj-title", "mj-raw", "mj-section", "mj-wrapper",
    "mj-group", "mj-column", "mj-hero", "mj-text", "mj-image", "mj-button", "mj-divider",
    "mj-spacer", "mj-table", "mj-social", "mj-social-element", "mj-navbar", "mj-navbar-link",
    "mj-accordion", "mj-accordion-element", "mj-accordion-title", "mj-accordion-text",
    "mj-carousel", "mj-carousel-image",
}  # fmt: skip
# Their content is HTML or CSS, not MJML: tags inside are not balanced by us.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip
_OPAQUE = {"mj-text", "mj-button", "mj-table", "mj-raw", "mj-style", "mj-navbar-link",
           "mj-social-element", "mj-accordion-title", "mj-accordion-text"}  # fmt: skip


class _Checker(HTMLParser):
    def __init__(self, source: Source):
        super().__init__(convert_charrefs=True)
        self.source = source
        self.stack: list[tuple[str, int]] = []
        self.html_stack: list[tuple[str, int]] = []  # HTML elements inside an opaque tag
        self.problems: list[Problem] = []

    def _problem(self, message: str, line: int | None = None) -> None:
        line = line if line is not None else self.getpos()[0]
        self.problems.append(Problem(Level.ERROR, self.source, message, line))

    def _opaque(self) -> bool:
        return bool(self.stack) and self.stack[-1][0] in _OPAQUE

    def handle_starttag(self, tag: str, attrs) -> None:
        if self._opaque() and not tag.startswith("mj"):
            if tag not in _VOID:
                self.html_stack.append((tag, self.getpos()[0]))
            return
        if self._opaque() or not tag.startswith("mj"):
            return
        if tag == "mj-include":
            self._problem("<mj-include> is not allowed: paste the included MJML here instead.")
        elif tag not in COMPONENTS:
            self._problem(f"<{tag}> is not an MJML component.")
        self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs) -> None:
        if self._opaque() or not tag.startswith("mj"):
            return
        if tag == "mj-include":
            self._problem("<mj-include> is not allowed: paste the included MJML here instead.")
        elif tag not in COMPONENTS:
            self._problem(f"<{tag}> is not an MJML component.")

    def handle_endtag(self, tag: str) -> None:
        if not tag.startswith("mj"):
            if self._opaque():
                self._html_end(tag)
            return
        if self._opaque() and self.stack[-1][0] != tag:
            return
        if self._opaque():
            for name, line in self.html_stack:
                self._problem(f"<{name}> inside <{tag}> is never closed.", line)
            self.html_stack.clear()
        if not self.stack:
            self._problem(f"</{tag}> closes a tag that was never opened.")
        elif self.stack[-1][0] == tag:
            self.stack.pop()
        else:
            opened, line = self.stack[-1]
            self._problem(f"</{tag}> found, but <{opened}> opened on line {line} is still open.")
            if any(name == tag for name, _ in self.stack):
                while self.stack and self.stack[-1][0] != tag:
                    self.stack.pop()
                self.stack.pop()

    def _html_end(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self.html_stack and self.html_stack[-1][0] == tag:
            self.html_stack.pop()
        elif any(name == tag for name, _ in self.html_stack):
            while self.html_stack[-1][0] != tag:
                name, line = self.html_stack.pop()
                self._problem(f"<{name}> opened on line {line} is never closed.")
            self.html_stack.pop()
        else:
            self._problem(f"</{tag}> closes a tag that was never opened.")

    def finish(self) -> list[Problem]:
        self.close()
        for tag, line in self.stack:
            self._problem(f"<{tag}> is never closed.", line)
        return self.problems


def check(source_text: str, *, source: Source) -> list[Problem]:
    """Structural errors in an MJML document or fragment, with their lines."""
    checker = _Checker(source)
    checker.feed(source_text)
    return checker.finish()


class _BlockPlacement(_Checker):
    """Finds block tokens placed where MJML expects HTML (inside ``mj-text`` and the like)."""

    def __init__(self, block_tokens: set[str]) -> None:
        super().__init__(Source.BODY)
        self.block_tokens = block_tokens

    def handle_data(self, data: str) -> None:
        if not self._opaque():
            return
        for token in self.block_tokens:
            if token in data:
                self._problem(
                    f"a block tag cannot be inside <{self.stack[-1][0]}>; put it on a line of "
                    "its own directly inside an <mj-column>."
                )


def check_blocks(source_text: str, *, block_tokens: set[str]) -> list[Problem]:
    """Block tokens must stand where column content goes, each on a line of its own."""
    if not block_tokens:
        return []
    checker = _BlockPlacement(block_tokens)
    checker.feed(source_text)
    checker.close()
    problems = [problem for problem in checker.problems if "block tag" in problem.message]
    for number, line in enumerate(source_text.splitlines(), start=1):
        for token in block_tokens:
            if token in line and line.strip() != token:
                problems.append(
                    Problem(
                        Level.ERROR,
                        Source.BODY,
                        "a block tag (a consultation, a goal…) must be alone on its line.",
                        number,
                    )
                )
    return problems


def _refuse_include(path: str) -> str:
    raise ValueError(f"<mj-include> is not allowed ({path})")


def to_html(document: str) -> str:
    """Render a complete MJML document. Raises RenderError with MRML's message."""
    try:
        # fonts={} stops MRML adding its default Google Fonts imports; mail must
        # not make the reader's client fetch anything we did not choose.
        return mjml2html(document, fonts={}, include_loader=_refuse_include)
    except ValueError as error:
        # MRML's position counts in the assembled document (layout and body
        # together), not in either text the editor wrote, so it stays in the message.
        raise RenderError(
            [Problem(Level.ERROR, Source.MESSAGE, f"MJML could not be rendered: {error}.")]
        ) from error
