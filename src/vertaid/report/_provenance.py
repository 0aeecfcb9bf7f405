"""Where every number in a report comes from.

A report never writes a number of its own. Each piece of text that holds a digit goes through a
:class:`Trail`, which records what was shown and where it came from:

- ``pack:<file>: <path>`` — an entry of the knowledge pack, named as the loader names places
  (``pack:outcomes.yaml: outcomes[0].per_option.kyphoplasty.low``);
- ``case:<path>`` — the case's own input (``case:fractures[0].level``, ``case:id``);
- ``assessment:<path>`` — a value of the assessment, which the engine computed from the case and
  the pack (``assessment:score``, ``assessment:fractures[0].genant_grade``).

``how`` says how the shown text relates to the value there: ``text`` (the shown text is part of the
text there), ``number`` (the shown text is that number, formatted), ``magnitude`` (that number without
its sign, which is shown as + or −), ``complement of N`` (N minus that number: the people of a picture
who are not affected), or ``key`` (the shown text is the last key of the path, such as a source id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "Traced",
    "Trail",
    "assessment_origin",
    "case_origin",
    "format_number",
    "member",
    "pack_origin",
]

PACK: Final = "pack:"
CASE: Final = "case:"
ASSESSMENT: Final = "assessment:"


@dataclass(frozen=True, slots=True)
class Traced:
    """One piece of shown text that holds a digit, and where it came from."""

    shown: str
    origin: str
    how: str


def member(origin: str, name: str | int) -> str:
    """The origin of a member (a key, or an index) of the value at ``origin``."""
    if isinstance(name, int):
        return f"{origin}[{name}]"
    if origin.endswith(": $"):
        return origin[: -len("$")] + name
    if origin.endswith(":"):
        return origin + name
    return f"{origin}.{name}"


def pack_origin(place: str) -> str:
    """The origin of a place in the knowledge pack (``outcomes.yaml: outcomes[0]``)."""
    return PACK + place


def case_origin(path: str) -> str:
    """The origin of an input of the case (``fractures[0].level``)."""
    return CASE + path


def assessment_origin(path: str) -> str:
    """The origin of a value of the assessment (``fractures[0].genant_grade``)."""
    return ASSESSMENT + path


def format_number(value: float) -> str:
    """A number as a report shows it: whole numbers without decimals, thousands grouped (3,850)."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,}"


def _has_digit(text: str) -> bool:
    return any(character.isdigit() for character in text)


@dataclass
class Trail:
    """Records every piece of text with a digit that a report shows, and the sources it cites.

    ``origins`` is the knowledge pack's map of where each entry is written (``source:seed:000`` →
    ``sources.yaml: sources.seed:000``).
    """

    origins: Mapping[str, str]
    entries: list[Traced] = field(default_factory=list)
    cited: dict[str, None] = field(default_factory=dict)
    """Source ids in the order the report first cites them (a dict used as an ordered set)."""

    def text(self, text: str, origin: str) -> str:
        """Show ``text`` (a part of the text at ``origin``); record it when it holds a digit."""
        if _has_digit(text):
            self.entries.append(Traced(text, origin, "text"))
        return text

    def number(self, value: float, origin: str) -> str:
        """Show the number at ``origin``."""
        shown = format_number(value)
        self.entries.append(Traced(shown, origin, "number"))
        return shown

    def signed(self, value: float, origin: str) -> str:
        """Show the number at ``origin`` with its sign: ``+2``, ``−2``, ``0`` (a score, a weight)."""
        shown = format_number(abs(value))
        self.entries.append(Traced(shown, origin, "magnitude"))
        return f"+{shown}" if value > 0 else f"−{shown}" if value < 0 else shown

    def complement(self, value: float, denominator: int, origin: str) -> str:
        """Show ``denominator`` minus the number at ``origin``: the people a figure does not count."""
        shown = format_number(denominator - value)
        self.entries.append(Traced(shown, origin, f"complement of {denominator}"))
        return shown

    def key(self, key: str, origin: str) -> str:
        """Show the key that names the entry at ``origin`` (a source id, a level)."""
        if _has_digit(key):
            self.entries.append(Traced(key, origin, "key"))
        return key

    def cite(self, sources: Iterable[str]) -> tuple[str, ...]:
        """Note the sources a piece of the report cites; return them, each shown as its id."""
        shown = []
        for source in sources:
            self.cited.setdefault(source, None)
            shown.append(self.key(source, pack_origin(self.origins[f"source:{source}"])))
        return tuple(shown)
