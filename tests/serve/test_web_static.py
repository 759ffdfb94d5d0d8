"""What the web page promises that needs no browser to check: it loads nothing from outside
(so it works offline), never parses API text as HTML, and labels every form control."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "src" / "fusionrec" / "serve" / "static"
FILES = ("index.html", "app.js", "style.css")


class _Controls(HTMLParser):
    """Ids of form controls, the ids that labels point at, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str] = []
        self.labelled: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"input", "select", "textarea"} and a.get("type") != "hidden":
            self.controls.append(a.get("id") or f"<{tag} without id>")
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"])
        self.links += [v for k, v in attrs if k in {"src", "href"} and v]


def _page() -> _Controls:
    parser = _Controls()
    parser.feed((STATIC / "index.html").read_text())
    return parser


def test_the_page_loads_nothing_from_another_origin():
    for name in FILES:
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://|@import|url\(\s*['\"]?//", text), name
    for link in _page().links:
        assert link.startswith("data:") or not re.match(r"^([a-z]+:)?//", link), link


def test_api_text_is_never_parsed_as_html():
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


def test_every_form_control_has_a_label():
    page = _page()
    assert page.controls
    assert not set(page.controls) - page.labelled
