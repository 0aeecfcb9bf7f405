"""Pack words as a report shows them: outcome figures written out, and ``{figure:ID}`` filled in.

Every number goes through the :class:`~vertaid.report._provenance.Trail`, so the report can say
where each one came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from vertaid.domain.pack import FIGURE_PLACEHOLDER, AidText, KnowledgePack, Outcome
from vertaid.report._provenance import Trail, member, pack_origin

__all__ = ["Line", "figure_words", "line", "outcome", "outcome_origin", "plain"]

_UNIT_WORDS: Final = {"people": "people", "percent_of_lost_height": "percent", "minutes": "minutes"}


@dataclass(frozen=True, slots=True)
class Line:
    """A line of a report and the ids of the sources it cites (shown beside it)."""

    text: str
    sources: tuple[str, ...] = ()


def outcome(pack: KnowledgePack, outcome_id: str) -> Outcome:
    """The pack's outcome with this id."""
    return next(entry for entry in pack.outcomes if entry.id == outcome_id)


def outcome_origin(pack: KnowledgePack, outcome_id: str) -> str:
    """Where the outcome is written in the pack, as a trail origin."""
    return pack_origin(pack.origins[f"outcome:{outcome_id}"])


def figure_words(trail: Trail, pack: KnowledgePack, outcome_id: str, option: str) -> str:
    """One option's figure for an outcome in words: ``85 to 90 out of 100 people``, ``$3,850``."""
    entry = outcome(pack, outcome_id)
    figure = entry.per_option[option]
    if figure is None:
        raise ValueError(f"outcome {outcome_id!r} has no figure for {option}")
    origin = member(member(outcome_origin(pack, outcome_id), "per_option"), option)
    prefix = "$" if entry.unit == "usd" else ""

    def shown(key: str) -> str:
        return prefix + trail.number(figure[key], member(origin, key))

    if "low" in figure:
        count = f"{shown('low')} to {shown('high')}"
    elif "below" in figure:
        count = f"less than {shown('below')}"
    else:
        count = shown("value")
    if entry.unit == "people" and entry.denominator is not None:
        denominator = trail.number(entry.denominator, member(outcome_origin(pack, outcome_id), "denominator"))
        return f"{count} out of {denominator} people"
    unit = _UNIT_WORDS.get(entry.unit)
    return count if unit is None else f"{count} {unit}"


def line(trail: Trail, pack: KnowledgePack, words: AidText, option: str | None = None) -> Line:
    """Decision-aid words with their figures filled in (for ``option`` unless a placeholder names one)."""
    origin = pack_origin(words.origin)
    parts: list[str] = []
    start = 0
    for match in FIGURE_PLACEHOLDER.finditer(words.text):
        parts.append(trail.text(words.text[start : match.start()], origin))
        about = match["option"] or option
        if about is None:
            raise ValueError(f"{words.origin}: {match[0]} names no option")
        parts.append(figure_words(trail, pack, match["outcome"], about))
        start = match.end()
    parts.append(trail.text(words.text[start:], origin))
    return Line("".join(parts), trail.cite(words.sources))


def plain(trail: Trail, text: str, origin: str, sources: tuple[str, ...] = ()) -> Line:
    """Text shown as it is written at ``origin`` (a trail origin), citing ``sources``."""
    return Line(trail.text(text, origin), trail.cite(sources))
