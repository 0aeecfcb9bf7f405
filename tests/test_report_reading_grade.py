"""The patient report reads at grade 8 or lower (Flesch–Kincaid, measured with textstat).

The measure covers every paragraph and list item outside the list of sources (``id="sources"``), as
the decision aid is read at home by patients and families.
"""

from __future__ import annotations

from typing import Final

import pytest
import textstat

from tests.report_pages import VIGNETTE_NAMES, normalise, parse, prose, rendered

MAX_GRADE: Final = 8.0


def reading_grade(html: str) -> float:
    """The Flesch–Kincaid grade of a page's paragraphs and list items outside ``#sources``."""
    grade: float = textstat.flesch_kincaid_grade("\n".join(prose(html)))
    return grade


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_the_patient_report_reads_at_grade_8_or_lower(name: str) -> None:
    """Every public vignette's patient report is at Flesch–Kincaid grade 8 or lower."""
    assert reading_grade(rendered(name, "patient").html) <= MAX_GRADE


def test_the_measure_reads_the_whole_decision_aid() -> None:
    """The measure sees the options, the grid's neighbours, the reasons, the questions and the SURE test."""
    items = prose(rendered("02-collapse-over-30", "patient").html)
    text = "\n".join(items)

    assert len(items) > 100
    for words in ("balloon", "Questions", "sure about the best choice", "bones stronger", "not checked"):
        assert words.lower() in text.lower(), words


def test_the_measure_leaves_out_the_list_of_sources() -> None:
    """Citations (journal names, volumes, pages) are not prose: the list of sources is not measured."""
    items = prose(rendered("02-collapse-over-30", "patient").html)

    assert not [item for item in items if "Spine J 2018;18(11)" in item]


def test_the_measure_can_fail() -> None:
    """Clinical jargon in long sentences scores far above grade 8, so the test above can fail."""
    jargon = (
        "<p>Percutaneous vertebral augmentation demonstrated statistically indistinguishable analgesic "
        "effectiveness compared with sham intervention in methodologically rigorous randomized "
        "controlled investigations of osteoporotic vertebral compression fractures.</p>"
    )

    assert reading_grade(jargon) > MAX_GRADE


def test_the_option_grid_reads_at_grade_8_or_lower_too() -> None:
    """The option grid's questions and answers (table cells, not paragraphs) are as plain as the rest."""
    page = parse(rendered("02-collapse-over-30", "patient").html)
    grid = next(element for element in page.walk() if element.attributes.get("id") == "option-grid")
    cells = [normalise(cell.all_text()) for cell in grid.walk() if cell.tag in ("td", "th")]
    sentences = [cell if cell.endswith((".", "?", "]")) else f"{cell}." for cell in cells]

    assert textstat.flesch_kincaid_grade("\n".join(sentences)) <= MAX_GRADE
