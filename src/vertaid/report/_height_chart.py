"""The height-over-time chart: how much of the lost height each procedure brings back, and what happens
to kyphoplasty's gain under load.

The figures come from the pack: the restored height from the outcome that ``height_chart.outcome``
names, the later loss from ``height_chart`` itself. The later loss rests on a claim no source
confirms, so it is drawn dashed and labelled "not checked"; the caption, from the pack, says what it
is. Every label with a number goes through the trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

from vertaid.domain.pack import KnowledgePack
from vertaid.report._provenance import Trail, member, pack_origin
from vertaid.report._words import Line, figure_words, line, outcome

__all__ = ["HeightChartView", "height_chart"]

# Drawing geometry, in SVG units.
_WIDTH: Final = 560
_HEIGHT: Final = 290
_LEFT: Final = 96
_RIGHT: Final = 526
_TOP: Final = 34
_BOTTOM: Final = 228
_STAGES: Final = (140, 300, 470)
"""x of "before", "right after" and "after the loads"."""
_FULL_SCALE: Final = 100
"""The y axis runs from none (0) to all (100 percent) of the lost height."""

_KYPHOPLASTY_COLOUR: Final = "#1f4e79"
_VERTEBROPLASTY_COLOUR: Final = "#b35c00"
_LABEL_STYLES: Final = {
    "": 'font-size="12" fill="#333"',
    "title": 'font-size="12" font-weight="bold" fill="#333"',
    "unchecked": 'font-size="11" font-style="italic" fill="#7d4e00"',
}


@dataclass(frozen=True, slots=True)
class HeightChartView:
    """The chart's SVG and the caption under it, with its sources."""

    svg: Markup
    caption: Line


def _y(percent: float) -> float:
    return _BOTTOM - (_BOTTOM - _TOP) * percent / _FULL_SCALE


def _text(x: float, y: float, words: str, *, anchor: str = "middle", style: str = "") -> str:
    """A label; its look is given as SVG attributes, which every renderer (the PDF one too) reads."""
    look = _LABEL_STYLES[style]
    return f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" {look}>{escape(words)}</text>'


def _figure(pack: KnowledgePack, outcome_id: str, option: str) -> Mapping[str, float]:
    figure = outcome(pack, outcome_id).per_option[option]
    if figure is None:
        raise ValueError(f"the height chart needs a figure of {outcome_id!r} for {option}")
    return figure


def _reach(figure: Mapping[str, float]) -> tuple[float, float]:
    """The lowest and highest share of lost height a figure allows (``below`` reaches up to it)."""
    if "low" in figure:
        return figure["low"], figure["high"]
    if "below" in figure:
        return 0.0, figure["below"]
    return figure["value"], figure["value"]


def height_chart(trail: Trail, pack: KnowledgePack, names: Mapping[str, str]) -> HeightChartView:
    """Draw the chart; ``names`` gives each option's name as the report shows it."""
    chart = pack.decision_aid.height_chart
    low, high = _reach(_figure(pack, chart.outcome, "kyphoplasty"))
    _, vertebroplasty_high = _reach(_figure(pack, chart.outcome, "vertebroplasty"))
    kept = 1 - chart.gain_lost_percent / _FULL_SCALE
    before, after, loaded = _STAGES
    origin = pack_origin(chart.origin)
    loads = trail.number(chart.after_loads, member(origin, "after_loads"))
    kyphoplasty_words = figure_words(trail, pack, chart.outcome, "kyphoplasty")
    vertebroplasty_words = figure_words(trail, pack, chart.outcome, "vertebroplasty")
    restored = f"{before},{_y(0):g} {after},{_y(high):g} {after},{_y(low):g}"
    under_load = (
        f"{after},{_y(high):g} {loaded},{_y(high * kept):g} {loaded},{_y(low * kept):g} {after},{_y(low):g}"
    )
    parts = [
        f'<svg class="chart height-chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        'aria-labelledby="height-chart-caption">',
        f'<path d="M{_LEFT} {_TOP}V{_BOTTOM}H{_RIGHT}" fill="none" stroke="#555"/>',
        f'<path d="M{_LEFT} {_TOP}H{_RIGHT}" stroke="#bbb" stroke-dasharray="2 3"/>',
        _text(_LEFT - 8, _TOP + 4, "all", anchor="end"),
        _text(_LEFT - 8, _BOTTOM + 4, "none", anchor="end"),
        _text(_LEFT, _TOP - 16, "Share of the lost height brought back", anchor="start", style="title"),
        _text(before, _BOTTOM + 22, "Before"),
        _text(after, _BOTTOM + 22, "Right after"),
        _text(loaded, _BOTTOM + 22, f"After {loads} loads"),
        f'<polygon points="{restored}" fill="{_KYPHOPLASTY_COLOUR}" fill-opacity="0.35" '
        f'stroke="{_KYPHOPLASTY_COLOUR}"/>',
        f'<polygon points="{under_load}" fill="{_KYPHOPLASTY_COLOUR}" fill-opacity="0.12" '
        f'stroke="{_KYPHOPLASTY_COLOUR}" stroke-dasharray="5 4"/>',
        _text(after, _y(high) - 10, f"{names['kyphoplasty']}: {kyphoplasty_words}"),
        _text(loaded, _y(low * kept) + 16, "not checked", anchor="end", style="unchecked"),
        f'<polyline points="{before},{_y(0):g} {after},{_y(vertebroplasty_high):g}" fill="none" '
        f'stroke="{_VERTEBROPLASTY_COLOUR}" stroke-width="3"/>',
        _text(
            after + 10,
            _y(vertebroplasty_high) + 2,
            f"{names['vertebroplasty']}: {vertebroplasty_words}",
            anchor="start",
        ),
        "</svg>",
    ]
    return HeightChartView(Markup("".join(parts)), line(trail, pack, chart.caption))
