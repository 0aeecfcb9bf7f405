"""Icon arrays (CONTRACT §5a): a figure drawn as people out of 100, or out of 1,000 for rare events.

The markup is fixed by the contract::

    <svg class="icon-array" data-numerator="N" data-denominator="D" [data-low="A" data-high="B"]>
      … D elements with the class ``icon``, exactly N of which also have the class ``affected`` …
    </svg>

N is the figure rounded to a whole person; for a range it is the midpoint, and ``data-low`` and
``data-high`` give the range. Affected icons come first in reading order (left to right, row by row),
so they form one block rather than a scatter. A range is drawn as a range: the low figure in the dark
shade, the rest of the range in a lighter one, the people outside it in grey.

Each icon is one ``<path>`` with two attributes, and icons of one shade share a ``<g fill>``: the PDF
renderer parses every attribute of every element, and a report holds thousands of icons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

__all__ = ["IconCounts", "icon_array", "icon_counts"]

_CELL: Final = 10
"""Each icon sits in a square cell of this many SVG units."""

_COLUMNS: Final[Mapping[int, int]] = {100: 10, 1000: 40}
"""Icons per row for each denominator: 10 by 10, and 40 by 25."""

_SQUARE: Final = ((1.5, 1.5), "h7v7h-7z")
"""Each icon: a square within its cell (where it starts, then how it goes on). Squares rather than
figures of people: the PDF renderer parses every path command of thousands of icons, and a square
has four."""

_SHADES: Final = (("affected", "#1f4e79"), ("range", "#7fa7cf"), ("unaffected", "#d5dbe1"))


@dataclass(frozen=True, slots=True)
class IconCounts:
    """How many icons an array marks: ``numerator`` affected; ``low``/``high`` bound a range."""

    numerator: int
    denominator: int
    low: int | None = None
    high: int | None = None


def _whole(value: float) -> int:
    """Round to a whole person, halves up (87.5 people is drawn as 88)."""
    return math.floor(value + 0.5)


def icon_counts(figure: Mapping[str, float], denominator: int) -> IconCounts:
    """The icons for a figure of the pack: ``{value: N}`` or ``{low: A, high: B}`` out of ``denominator``."""
    if "low" in figure:
        low, high = figure["low"], figure["high"]
        return IconCounts(_whole((low + high) / 2), denominator, _whole(low), _whole(high))
    return IconCounts(_whole(figure["value"]), denominator)


def icon_array(counts: IconCounts, *, outcome: str, option: str, time_frame: str, label_id: str) -> Markup:
    """The SVG of one icon array; ``label_id`` is the id of the caption that describes it."""
    columns = _COLUMNS[counts.denominator]
    rows = math.ceil(counts.denominator / columns)
    (start_x, start_y), glyph = _SQUARE
    low = counts.numerator if counts.low is None else counts.low
    high = counts.numerator if counts.high is None else counts.high
    spans = {
        "affected": range(low),
        "range": range(low, high),
        "unaffected": range(high, counts.denominator),
    }
    attributes = {
        "class": "icon-array",
        "data-numerator": str(counts.numerator),
        "data-denominator": str(counts.denominator),
        "data-outcome": outcome,
        "data-option": option,
        "data-time-frame": time_frame,
        "role": "img",
        "aria-labelledby": label_id,
        "viewBox": f"0 0 {columns * _CELL} {rows * _CELL}",
    }
    if counts.low is not None and counts.high is not None:
        attributes["data-low"] = str(counts.low)
        attributes["data-high"] = str(counts.high)
    parts = ["<svg", *(f' {name}="{escape(value)}"' for name, value in attributes.items()), ">"]
    for shade, colour in _SHADES:
        parts.append(f'<g class="{shade}" fill="{colour}">')
        for index in spans[shade]:
            kind = "icon affected" if index < counts.numerator else "icon"
            x, y = (index % columns) * _CELL + start_x, (index // columns) * _CELL + start_y
            parts.append(f'<path class="{kind}" d="M{x:g} {y:g}{glyph}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
