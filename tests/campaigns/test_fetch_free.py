"""Rendering cannot fetch anything: not over the network, not from local files, whatever
the spelling of the @import or the tag asking for it; and the sent CSS has no @import.

A real HTTP server on 127.0.0.1 records every request; a named pipe stands for a local
file that must never be opened (opening it for reading would block until a writer
comes, and the watchdog below notices the reader).
"""

import errno
import http.server
import os
import threading
import time

import pytest

from campaigns.rendering import inline, mjml, render
from campaigns.rendering.problems import RenderError
from tests.campaigns.samples import make_input


class Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self):
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"p { color: #0badf0 }")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (Recorder,), {"hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_port}"
    httpd.hits = handler.hits
    yield httpd
    httpd.shutdown()
    httpd.server_close()


class Pipe:
    """A named pipe; ``opened`` becomes true if anything opens it to read."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        self.opened = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while not self.stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:  # ENXIO: nobody is reading
                assert error.errno == errno.ENXIO
                time.sleep(0.02)
                continue
            self.opened = True  # a reader is blocked on it: feed it and let it go
            os.write(fd, b"p { color: #0badf0 }")
            os.close(fd)

    def close(self):
        self.stop.set()
        self.thread.join()


@pytest.fixture
def local_file(tmp_path):
    pipe = Pipe(tmp_path / "secret.css")
    yield pipe
    pipe.close()


def spellings(url: str) -> list[str]:
    return [
        f"@import url({url});",
        f"@import url('{url}') screen;",
        f'@import "{url}";',
        f'@IMPORT "{url}";',
        f'@ImPoRt "{url}";',
        f'@\\69mport "{url}";',
        f'@\\69 mport "{url}";',
        f'@\\000069mport "{url}";',
        f'@\\49 MPORT "{url}";',
        f'@im\\port "{url}";',
        f'@import/**/"{url}";',
        f"@import/* a comment */url({url});",
        f'@media screen {{ @import "{url}"; }}',
    ]


def targets(server, local_file) -> list[str]:
    return [
        f"{server.base}/imported.css",
        f"file://{local_file.path}",
        str(local_file.path),
        os.path.relpath(local_file.path),  # relative: cssutils would read it from the cwd
    ]


def assert_nothing_fetched(server, local_file, output: str):
    assert server.hits == []
    assert not local_file.opened
    assert "0badf0" not in output


def assert_no_import(output: str):
    for style in inline.parse(output).iter("style"):
        _kept, imports = inline.strip_imports(style.text or "")
        assert imports == [], style.text


def test_every_spelling_of_import_is_removed_and_never_followed(server, local_file):
    for target in targets(server, local_file):
        for rule in spellings(target):
            document = (
                f"<html><head><style>{rule}\np {{ margin: 0 }}</style></head>"
                "<body><p>Hello</p></body></html>"
            )
            stripped, problems = inline.strip_remote(document)
            output = inline.inline(stripped)
            assert_nothing_fetched(server, local_file, output)
            assert_no_import(output)
            assert 'style="margin:0"' in output, rule
            assert len(problems) == 1, rule
            assert target in str(problems[0]), (rule, str(problems[0]))


def test_the_css_parser_itself_refuses_to_fetch(server, local_file, monkeypatch):
    """Even when the @import reaches the inliner (a spelling nobody thought of), the CSS
    parser's fetcher refuses: the fetch point is closed, not only the pattern."""
    monkeypatch.setattr(inline, "_strip_remote_styles", lambda tree: [])
    for target in targets(server, local_file):
        document = (
            f'<html><head><style>@import "{target}"; p {{ margin: 0 }}</style></head>'
            "<body><p>Hello</p></body></html>"
        )
        assert_nothing_fetched(server, local_file, inline.inline(document))


def test_no_link_document_type_or_entity_is_fetched(server, local_file):
    document = (
        f'<!DOCTYPE html SYSTEM "{server.base}/dtd">'
        f'<html><head><link rel="StyleSheet" href="{server.base}/linked.css">'
        f'<link rel="alternate stylesheet" href="file://{local_file.path}">'
        f"<style>p {{ margin: 0 }}</style></head><body><p>Hello &amp; bye</p></body></html>"
    )
    stripped, problems = inline.strip_remote(document)
    output = inline.inline(stripped)
    assert_nothing_fetched(server, local_file, output)
    assert "<link" not in output
    assert len(problems) == 2


def test_mj_include_is_refused_by_the_mjml_renderer_itself(local_file, tmp_path):
    included = tmp_path / "part.mjml"
    included.write_text("<mj-section><mj-column><mj-text>secret</mj-text></mj-column></mj-section>")
    for path in (str(local_file.path), str(included), f"file://{included}"):
        document = f'<mjml><mj-body><mj-include path="{path}" /></mj-body></mjml>'
        with pytest.raises(RenderError) as refused:
            mjml.to_html(document)
        assert "included template" in str(refused.value)
    assert not local_file.opened


def test_a_whole_render_fetches_nothing_and_sends_no_import(server, local_file):
    layout = (
        make_input()
        .layout.replace(
            "<mj-attributes>",
            f'<mj-font name="Inter" href="{server.base}/font.css" />\n<mj-attributes>',
        )
        .replace('<mj-all font-family="', '<mj-all font-family="Inter, ')
        .replace(
            "<mj-style>",
            f'<mj-style>@\\69mport url({server.base}/a.css);\n@IMPORT "{local_file.path}";\n',
        )
    )
    body = (
        "<mj-section><mj-column><mj-text>Hello</mj-text></mj-column></mj-section>"
        f'<mj-raw><style>@import/**/"{server.base}/b.css"; p {{ margin: 0 }}</style></mj-raw>'
    )
    result = render(make_input(layout=layout, body=body, body_format="mjml"))
    assert result.ok, result.problems
    html = result.html.source()
    assert_nothing_fetched(server, local_file, html)
    assert_no_import(html)
    assert server.base not in html
    removed = " ".join(str(problem) for problem in result.warnings)
    for url in (f"{server.base}/font.css", f"{server.base}/a.css", f"{server.base}/b.css"):
        assert f"{url} was removed" in removed


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ('p{x:"@import"} @import "a.css"; q{}', ('p{x:"@import"}  q{}', ["a.css"])),
        ("/* @import 'a.css'; */ p{}", ("/* @import 'a.css'; */ p{}", [])),
        ("@importer url(a.css); p{}", ("@importer url(a.css); p{}", [])),
        ("@\\69mport url( 'a b.css' ) print; p{}", (" p{}", ["a b.css"])),
        ("@import url(a.css) { odd } p{}", (" p{}", ["a.css"])),
        ('@media print{@import "a.css";p{}}', ("@media print{p{}}", ["a.css"])),
        ("a{content:'\\'@import \"x\";'}", ("a{content:'\\'@import \"x\";'}", [])),
        ('p{} @import "a.css"', ("p{} ", ["a.css"])),  # no semicolon: ends with the sheet
        ('@import "a.css" p{color:red}', ("", ["a.css"])),  # the block is the rule's
    ],
)
def test_imports_are_read_as_a_browser_reads_css(css, expected):
    assert inline.strip_imports(css) == expected
