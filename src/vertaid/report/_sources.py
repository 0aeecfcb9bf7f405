"""The case's own words in a report, and the list of sources a report cites.

A report shows a few of the case's inputs (its id, the fracture levels, the values a coverage check
read); each goes through the trail with the path of the input it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from vertaid.domain.pack import KnowledgePack
from vertaid.report._provenance import Trail, case_origin, member, pack_origin

__all__ = ["SourceEntry", "bibliography", "case_text", "case_value", "level_texts", "source_anchor"]

_NOT_IN_ANCHORS: Final = re.compile(r"[^a-z0-9]+")
_STEP: Final = re.compile(r"\.|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """A source as the list at the end of a report shows it."""

    id: str
    anchor: str
    title: str
    citation: str
    url: str | None


def source_anchor(source_id: str) -> str:
    """The HTML id of a source's entry in the list of sources (``seed:000`` → ``source-seed-000``)."""
    return "source-" + _NOT_IN_ANCHORS.sub("-", source_id.lower()).strip("-")


def case_value(case: Mapping[str, Any], path: str) -> Any:
    """The case's input at ``path`` (``fractures[0].level``), or None when it is not given."""
    value: Any = case
    for part in _STEP.split(path):
        if part is None or part == "":
            continue
        if isinstance(value, list):
            index = int(part)
            value = value[index] if index < len(value) else None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def case_text(trail: Trail, case: Mapping[str, Any], path: str) -> str | None:
    """The case's input at ``path`` as text, or None when it is not given."""
    value = case_value(case, path)
    return None if value is None else trail.text(str(value), case_origin(path))


def level_texts(trail: Trail, case: Mapping[str, Any], levels: Iterable[str]) -> list[str]:
    """Fracture levels as the case names them (each traced to the fracture it belongs to)."""
    positions = {fracture["level"]: index for index, fracture in enumerate(case.get("fractures", []))}
    return [trail.text(level, case_origin(f"fractures[{positions[level]}].level")) for level in levels]


def bibliography(trail: Trail, pack: KnowledgePack) -> list[SourceEntry]:
    """Every source the report has cited, in the order it first cited them."""
    entries = []
    for source_id in list(trail.cited):
        source = pack.sources[source_id]
        origin = pack_origin(pack.origins[f"source:{source_id}"])
        entries.append(
            SourceEntry(
                id=trail.key(source_id, origin),
                anchor=source_anchor(source_id),
                title=trail.text(source.title, member(origin, "title")),
                citation=trail.text(source.citation, member(origin, "citation")),
                url=None if source.url is None else trail.text(source.url, member(origin, "url")),
            )
        )
    return entries
