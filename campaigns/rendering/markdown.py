"""Markdown → MJML blocks: the default way to write a campaign.

Paragraphs, lists, code and tables go into ``mj-text``; an image alone in a
paragraph becomes a responsive ``mj-image``; ``---`` starts a new section, which
the layouts style as a separate card or item. Raw HTML is not interpreted (it
would let the body break the layout's MJML); the editor is told and pointed at
the MJML format instead.
"""

import html
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .problems import Level, Problem, Source

_ABSOLUTE = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)
PRE_STYLE = "white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere;"
TABLE_STYLE = "width:100%;border-collapse:collapse;word-break:break-word;"


def _parser(*, allow_html: bool) -> MarkdownIt:
    return MarkdownIt(
        "commonmark", {"html": allow_html, "xhtmlOut": True, "linkify": False}
    ).enable(["table", "strikethrough"])


_MD = _parser(allow_html=False)
_MD_DETECT_HTML = _parser(allow_html=True)


def _fence(renderer, tokens, idx, options, env) -> str:
    token = tokens[idx]
    language = token.info.strip().split(" ")[0] if token.info else ""
    label = f' data-language="{html.escape(language)}"' if language else ""
    return (
        f'<pre class="crier-code" style="{PRE_STYLE}"{label}><code>'
        f"{html.escape(token.content)}</code></pre>\n"
    )


def _table_open(renderer, tokens, idx, options, env) -> str:
    return f'<table class="crier-table" role="table" style="{TABLE_STYLE}">\n'


_MD.add_render_rule("fence", _fence)
_MD.add_render_rule("code_block", _fence)
_MD.add_render_rule("table_open", _table_open)


def to_mjml(
    text: str, *, is_token, block_tokens: set[str] = frozenset()
) -> tuple[str, list[Problem]]:
    """Convert Markdown (with merge tags already swapped for tokens) to MJML sections.

    ``is_token(url)`` says whether a link is a merge tag such as
    ``{{ unsubscribe_url }}``, which is absolute once filled in. A paragraph that is
    only a block's token (``block_tokens``) stays as that token, among the column's
    content, for the caller to replace with the block's MJML.
    """
    problems = _check_raw_html(text)
    tokens = _MD.parse(text)
    problems += _check_links(tokens, is_token=is_token)
    problems += _check_blocks(tokens, block_tokens)
    sections: list[list[str]] = [[]]
    buffer: list[Token] = []

    def flush() -> None:
        if buffer:
            rendered = _MD.renderer.render(buffer, _MD.options, {})
            sections[-1].append(
                f'<mj-text mj-class="crier-text" css-class="crier-text">\n{rendered}</mj-text>'
            )
            buffer.clear()

    for block in _blocks(tokens):
        first = block[0]
        if first.type == "hr":
            flush()
            sections.append([])
        elif image := _lone_image(block):
            flush()
            sections[-1].append(_mj_image(image))
        elif (token := _lone_text(block)) in block_tokens:
            flush()
            sections[-1].append(token)
        else:
            buffer.extend(block)
    flush()
    body = "\n".join(
        '<mj-section mj-class="crier-section" css-class="crier-section">'
        '<mj-column mj-class="crier-column">\n' + "\n".join(blocks) + "\n</mj-column></mj-section>"
        for blocks in sections
        if blocks
    )
    return body, problems


def _blocks(tokens: list[Token]):
    """Yield the top-level blocks, each as its list of tokens."""
    start = 0
    depth = 0
    for index, token in enumerate(tokens):
        depth += token.nesting
        if depth == 0:
            yield tokens[start : index + 1]
            start = index + 1


def _lone_image(block: list[Token]) -> Token | None:
    if len(block) != 3 or block[0].type != "paragraph_open":
        return None
    children = [
        child
        for child in block[1].children or []
        if not (child.type == "text" and not child.content.strip()) and child.type != "softbreak"
    ]
    if len(children) == 1 and children[0].type == "image":
        return children[0]
    return None


def _lone_text(block: list[Token]) -> str | None:
    """The text of a paragraph made of one line of plain text, else None."""
    if len(block) != 3 or block[0].type != "paragraph_open":
        return None
    children = block[1].children or []
    if len(children) != 1 or children[0].type != "text":
        return None
    return children[0].content.strip()


def _check_blocks(tokens: list[Token], block_tokens: set[str]) -> list[Problem]:
    """A block is a part of the message, not a word: it must be a paragraph of its own."""
    if not block_tokens:
        return []
    problems = []
    for block in _blocks(tokens):
        if _lone_text(block) in block_tokens:
            continue
        for token in block:
            content = token.content + "".join(child.content for child in token.children or [])
            if any(block_token in content for block_token in block_tokens):
                problems.append(
                    Problem(
                        Level.ERROR,
                        Source.BODY,
                        "a block tag (a consultation, a goal…) must be alone on its line, "
                        "with an empty line before and after it.",
                        token.map[0] + 1 if token.map else None,
                    )
                )
                break
    return problems


def _mj_image(image: Token) -> str:
    src = html.escape(str(image.attrGet("src") or ""), quote=True)
    alt = html.escape(image.content, quote=True)
    title = image.attrGet("title")
    title_attr = f' title="{html.escape(str(title), quote=True)}"' if title else ""
    return f'<mj-image mj-class="crier-image" src="{src}" alt="{alt}"{title_attr} />'


def _check_links(tokens: list[Token], *, is_token) -> list[Problem]:
    problems = []
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        line = token.map[0] + 1 if token.map else None
        for child in token.children:
            if child.type == "link_open":
                url = str(child.attrGet("href") or "")
                kind = "link"
            elif child.type == "image":
                url = str(child.attrGet("src") or "")
                kind = "image"
                if not child.content.strip():
                    problems.append(
                        Problem(
                            Level.WARNING,
                            Source.BODY,
                            "an image has no description; write ![what it shows](…) so "
                            "screen readers and mail clients that block images can say it.",
                            line,
                        )
                    )
            else:
                continue
            if not _ABSOLUTE.match(url) and not is_token(url):
                problems.append(
                    Problem(
                        Level.ERROR,
                        Source.BODY,
                        f'the {kind} address "{url}" is not absolute; mail clients need a '
                        "full https:// address.",
                        line,
                    )
                )
    return problems


def _check_raw_html(text: str) -> list[Problem]:
    problems = []
    for token in _MD_DETECT_HTML.parse(text):
        found = token.type == "html_block" or (
            token.type == "inline"
            and any(child.type == "html_inline" for child in token.children or [])
        )
        if found:
            problems.append(
                Problem(
                    Level.WARNING,
                    Source.BODY,
                    "raw HTML is shown as text in Markdown; switch the body format to MJML "
                    "for full control of the markup.",
                    token.map[0] + 1 if token.map else None,
                )
            )
    return problems
