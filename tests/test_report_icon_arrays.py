"""Icon arrays in the patient report (CONTRACT §5a; IPDAS probability items).

Every outcome counted in people is drawn for every option that has a figure, as
``<svg class="icon-array" data-numerator="N" data-denominator="D">`` with D icons, N of them affected;
N is the figure rounded to a whole person (the midpoint of a range); options compared share the
denominator and time frame; affected icons come first, as one block.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

import pytest

from tests.report_pages import VIGNETTE_NAMES, icon_arrays, icons, parse, rendered
from vertaid.knowledge import default_pack
from vertaid.report._icon_array import IconCounts, icon_array, icon_counts

PEOPLE_OUTCOMES: Final = [outcome for outcome in default_pack().outcomes if outcome.unit == "people"]


def expected_numerator(figure: dict[str, float]) -> tuple[int, int | None, int | None]:
    """N, low and high for a figure: the value, or the midpoint of a range rounded half up."""
    if "low" in figure:
        middle = (figure["low"] + figure["high"]) / 2
        return (
            int(middle) + (1 if middle - int(middle) >= 0.5 else 0),
            int(figure["low"]),
            int(figure["high"]),
        )
    return int(figure["value"]), None, None


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_every_figure_counted_in_people_is_an_icon_array_of_its_figure(name: str) -> None:
    """For every option with a figure, one array: D icons, exactly N affected, N being the figure."""
    arrays = {
        (array.attributes["data-outcome"], array.attributes["data-option"]): array
        for array in icon_arrays(rendered(name, "patient").html)
    }
    expected = {
        (outcome.id, option): (figure, outcome.denominator)
        for outcome in PEOPLE_OUTCOMES
        for option, figure in outcome.per_option.items()
        if figure is not None
    }

    assert set(expected) == set(arrays)
    for key, (figure, denominator) in expected.items():
        array = arrays[key]
        numerator, low, high = expected_numerator(dict(figure))
        drawn = icons(array)
        assert str(numerator) == array.attributes["data-numerator"], key
        assert str(denominator) == array.attributes["data-denominator"], key
        assert denominator == len(drawn), key
        assert numerator == sum("affected" in icon.classes for icon in drawn), key
        if low is None:
            assert "data-low" not in array.attributes and "data-high" not in array.attributes
        else:
            assert (str(low), str(high)) == (array.attributes["data-low"], array.attributes["data-high"]), key


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_options_compared_share_the_denominator_and_time_frame(name: str) -> None:
    """Within one comparison every option's array has the same denominator and time frame."""
    by_outcome: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for array in icon_arrays(rendered(name, "patient").html):
        by_outcome[array.attributes["data-outcome"]].add(
            (array.attributes["data-denominator"], array.attributes["data-time-frame"])
        )

    assert dict.fromkeys(by_outcome, 1) == {outcome: len(kinds) for outcome, kinds in by_outcome.items()}


def test_affected_icons_come_first_in_reading_order() -> None:
    """The affected icons are the first N in document order: one block, never scattered."""
    for array in icon_arrays(rendered("02-collapse-over-30", "patient").html):
        flags = ["affected" in icon.classes for icon in icons(array)]
        numerator = int(array.attributes["data-numerator"])

        assert [True] * numerator + [False] * (len(flags) - numerator) == flags


def test_icons_are_laid_out_left_to_right_then_row_by_row() -> None:
    """Icon i sits in row i // columns and column i % columns: reading order is drawing order."""
    markup = icon_array(IconCounts(7, 100), outcome="o", option="kyphoplasty", time_frame="t", label_id="c")
    starts = [icon.attributes["d"].split("h")[0] for icon in icons(icon_arrays(str(markup))[0])]
    corners = [tuple(float(n) for n in start[1:].split()) for start in starts]

    assert corners[0][1] == corners[9][1] < corners[10][1]
    assert sorted(corners, key=lambda corner: (corner[1], corner[0])) == corners


@pytest.mark.parametrize(
    ("figure", "denominator", "expected"),
    [
        ({"low": 85, "high": 90}, 100, IconCounts(88, 100, 85, 90)),
        ({"low": 5, "high": 10}, 100, IconCounts(8, 100, 5, 10)),
        ({"low": 27, "high": 68}, 100, IconCounts(48, 100, 27, 68)),
        ({"low": 9, "high": 33}, 100, IconCounts(21, 100, 9, 33)),
        ({"value": 6}, 1000, IconCounts(6, 1000)),
        ({"value": 92}, 100, IconCounts(92, 100)),
    ],
)
def test_a_range_is_drawn_at_its_midpoint_rounded_half_up(
    figure: dict[str, float], denominator: int, expected: IconCounts
) -> None:
    """N is the midpoint of a range rounded to a whole person, halves up (87.5 → 88, 7.5 → 8)."""
    assert expected == icon_counts(figure, denominator)


def test_a_range_shows_its_low_end_and_the_rest_of_the_range_apart() -> None:
    """A range is drawn as a range: low-end icons, then the rest of the range, then everyone else."""
    array = icon_arrays(
        str(icon_array(IconCounts(88, 100, 85, 90), outcome="o", option="p", time_frame="t", label_id="c"))
    )[0]
    groups = [element for element in array.children if element.tag == "g"]

    assert ["affected", "range", "unaffected"] == [group.attributes["class"] for group in groups]
    assert [85, 5, 10] == [len(group.children) for group in groups]


@pytest.mark.parametrize("name", ["02-collapse-over-30", "07-mild-pain"])
def test_an_option_without_a_figure_says_so_instead_of_an_array(name: str) -> None:
    """Non-surgical care has no figure for these outcomes: no array, and a plain statement instead."""
    page = parse(rendered(name, "patient").html)
    pictures = [
        element
        for element in page.walk()
        if element.attributes.get("id", "").startswith("picture-")
        and element.attributes["id"].endswith("conservative-care")
    ]

    assert len(PEOPLE_OUTCOMES) == len(pictures)
    for picture in pictures:
        assert "no-figure" in picture.classes
        assert "no figure" in picture.all_text()
    assert not [
        array
        for array in icon_arrays(rendered(name, "patient").html)
        if array.attributes["data-option"] == "conservative_care"
    ]


def test_each_caption_gives_the_figure_in_people_out_of_the_denominator() -> None:
    """Under each array a plain caption: "85 to 90 out of 100 people …", and the people it leaves out."""
    page = parse(rendered("02-collapse-over-30", "patient").html)
    captions = {
        element.attributes["id"]: element.all_text()
        for element in page.walk()
        if "caption" in element.classes
    }

    pain = captions["picture-pain-relief-24h-kyphoplasty"]
    rare = captions["picture-symptomatic-leak-vertebroplasty"]

    assert pain.startswith("85 to 90 out of 100 people have much less pain within a day.")
    assert "10 to 15 out of 100 do not." in pain
    assert rare.startswith("11 out of 1,000 people")
    assert "989 out of 1,000" in rare
