"""Reading rendered reports the way a person or a checker would: their text, their prose, their icon arrays.

The vignettes' reports are rendered once per audience and shared by the report tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final

from vertaid.report import RenderedReport
from vertaid.services.report import render_report

VIGNETTES: Final = sorted((Path(__file__).parent / "vignettes").glob("*.json"))
VIGNETTE_NAMES: Final = [path.stem for path in VIGNETTES]
AUDIENCES: Final = ("patient", "clinician")

_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_HIDDEN: Final = frozenset({"style", "script"})


@cache
def vignette_case(name: str) -> dict[str, Any]:
    """The case of a vignette in tests/vignettes (by file stem)."""
    case: dict[str, Any] = json.loads((Path(__file__).parent / "vignettes" / f"{name}.json").read_text())[
        "case"
    ]
    return case


@cache
def rendered(name: str, audience: str) -> RenderedReport:
    """The HTML report of a vignette for an audience, rendered once per test session."""
    return render_report(vignette_case(name), audience)


def normalise(text: str) -> str:
    """Collapse runs of white space, as a browser shows text."""
    return " ".join(text.split())


@dataclass
class Element:
    """An element of a parsed page: its tag, attributes, children and text."""

    tag: str
    attributes: dict[str, str]
    children: list[Element] = field(default_factory=list)
    content: list[Element | str] = field(default_factory=list)
    """Text and child elements, in document order."""

    @property
    def classes(self) -> list[str]:
        """The element's classes."""
        return self.attributes.get("class", "").split()

    def walk(self) -> list[Element]:
        """This element and all below it, in document order."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def all_text(self) -> str:
        """All the text in and below this element, in document order."""
        return "".join(part if isinstance(part, str) else part.all_text() for part in self.content)

    def texts(self) -> list[str]:
        """Each run of text in and below this element, in document order (table cells stay apart)."""
        runs: list[str] = []
        for part in self.content:
            runs.extend([part] if isinstance(part, str) else part.texts())
        return runs


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        parent = self.stack[-1]
        parent.children.append(element)
        parent.content.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].content.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self.stack[-1].tag in _HIDDEN:
            return
        self.stack[-1].content.append(data)


def parse(html: str) -> Element:
    """Parse a page into a tree of elements."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def visible_text(html: str) -> str:
    """Every piece of text a reader can see (the title, the body, SVG labels), whitespace collapsed.

    Runs of text in different elements are kept apart by a space, as table cells are on screen.
    """
    return normalise(" ".join(parse(html).texts()))


def prose(html: str) -> list[str]:
    """The text of every paragraph and list item outside the element with ``id="sources"``."""
    items: list[str] = []

    def visit(element: Element) -> None:
        if element.attributes.get("id") == "sources":
            return
        if element.tag in ("p", "li"):
            items.append(normalise(element.all_text()))
            return
        for child in element.children:
            visit(child)

    visit(parse(html))
    return [item for item in items if item]


def icon_arrays(html: str) -> list[Element]:
    """Every ``<svg class="icon-array">`` of a page."""
    return [
        element for element in parse(html).walk() if element.tag == "svg" and "icon-array" in element.classes
    ]


def icons(array: Element) -> list[Element]:
    """The icons of an icon array, in document (reading) order."""
    return [element for element in array.walk() if "icon" in element.classes]


def element_ids(html: str) -> set[str]:
    """The ids of every element of a page."""
    return {element.attributes["id"] for element in parse(html).walk() if "id" in element.attributes}


DIGITS: Final = re.compile(r"\d")
