"""What the two reports say, and that they say it fairly, safely and from the assessment.

The patient report meets the IPDAS criteria at the sections ``docs/ipdas.md`` names, shows the options
in one order with the same parts, labels every unverified claim, and states the assessment's decision
without re-deciding it. The clinician's report shows every finding, checklist item, conflict, missing
fact and score of the assessment. Both escape what the user supplied and fetch nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import pytest

from tests.report_pages import (
    AUDIENCES,
    VIGNETTE_NAMES,
    element_ids,
    icon_arrays,
    normalise,
    parse,
    rendered,
    vignette_case,
    visible_text,
)
from vertaid import assess
from vertaid.knowledge import default_pack
from vertaid.services.report import render_report

IPDAS_DOC: Final = Path(__file__).parents[1] / "docs" / "ipdas.md"
OPTIONS: Final = ["kyphoplasty", "vertebroplasty", "conservative_care"]


def ipdas_sections() -> set[str]:
    """The section ids ``docs/ipdas.md`` says meet each criterion."""
    return set(re.findall(r"`#([a-z-]+)`", IPDAS_DOC.read_text(encoding="utf-8")))


def section_text(html: str, section_id: str) -> str:
    """The visible text of one section of a page."""
    page = parse(html)
    section = next(element for element in page.walk() if element.attributes.get("id") == section_id)
    return normalise(" ".join(section.texts()))


def test_the_ipdas_document_names_the_sections_of_every_criterion() -> None:
    """docs/ipdas.md names, for every qualifying and certification criterion, where the report meets it."""
    text = IPDAS_DOC.read_text(encoding="utf-8")

    for criterion in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "C1", "C2", "C3", "C4", "C5", "C6"):
        assert re.search(rf"^\| {criterion} \|.*`#[a-z-]+`", text, re.MULTILINE), criterion


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_every_section_the_ipdas_document_names_is_in_the_patient_report(name: str) -> None:
    """Each section docs/ipdas.md points to is in every vignette's patient report."""
    assert set() == ipdas_sections() - element_ids(rendered(name, "patient").html)


def test_the_options_come_in_one_order_everywhere() -> None:
    """Cards, grid columns and every comparison list the options in the pack's order."""
    html = rendered("03-deformity-and-posture-goal", "patient").html
    page = parse(html)
    names = [option.name for option in default_pack().decision_aid.options]
    cards = [element.attributes["id"] for element in page.walk() if "option" in element.classes]
    grid = next(element for element in page.walk() if element.attributes.get("id") == "option-grid")
    columns = [
        normalise(cell.all_text())
        for cell in grid.walk()
        if cell.tag == "th" and cell.attributes.get("scope") == "col"
    ]

    assert [f"option-{option.replace('_', '-')}" for option in OPTIONS] == cards
    assert names == columns[1:]
    for comparison in (element for element in page.walk() if "comparison" in element.classes):
        pictures = [
            element.attributes["id"]
            for element in comparison.walk()
            if element.attributes.get("id", "").startswith("picture-")
        ]
        assert [
            picture.endswith(option.replace("_", "-"))
            for picture, option in zip(pictures, OPTIONS, strict=True)
        ] == [True] * 3


def test_every_option_is_described_with_the_same_parts_in_equal_detail() -> None:
    """Every card has the same headings and as many items under each; as many downsides as good points."""
    page = parse(rendered("02-collapse-over-30", "patient").html)
    shapes = []
    for card in (element for element in page.walk() if "option" in element.classes):
        headings = [normalise(element.all_text()) for element in card.walk() if element.tag == "h4"]
        lists = [
            len([item for item in element.children if item.tag == "li"])
            for element in card.walk()
            if element.tag == "ul"
        ]
        shapes.append((headings, lists))

    assert 3 == len(shapes)
    assert shapes[0] == shapes[1] == shapes[2]
    headings, lists = shapes[0]
    assert ["What it is like", "Good points", "Downsides"] == headings
    assert lists[1] == lists[2]


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_the_patient_report_states_the_assessments_decision(name: str) -> None:
    """The suggestion shown is the pack's plain words for the decision the assessment made."""
    assessment = assess(vignette_case(name))
    headline = default_pack().decision_aid.recommendations[assessment["decision"]].headline.text

    assert headline in section_text(rendered(name, "patient").html, "for-you")


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_the_patient_report_gives_the_reasons_in_plain_words(name: str) -> None:
    """Every finding behind the decision appears in its plain words, never in the clinician's."""
    assessment = assess(vignette_case(name))
    reasons = default_pack().decision_aid.finding_reasons
    text = section_text(rendered(name, "patient").html, "for-you")
    augmentation = assessment["decision"] in ("kyphoplasty", "vertebroplasty", "either")
    deciding = [
        finding
        for finding in assessment["findings"]
        if (finding["step"] == "choice" if augmentation else finding["favours"] == assessment["decision"])
    ]

    assert deciding
    for finding in deciding:
        assert reasons[finding["rule"]].text in text
        assert finding["text"] not in text


def test_the_patients_priorities_and_the_values_exercise_are_shown() -> None:
    """The priorities the patient gave are listed in plain words, above the values exercise."""
    text = section_text(rendered("03-deformity-and-posture-goal", "patient").html, "priorities")
    aid = default_pack().decision_aid

    assert aid.priorities["posture"].text in text
    assert aid.priorities["pain_relief"].text in text
    for item in aid.values_exercise:
        assert item.text in text


def test_every_unverified_claim_is_shown_and_labelled_as_not_checked() -> None:
    """All of seed 000's unverified claims are in the patient report, each labelled, the new ones first."""
    page = parse(rendered("02-collapse-over-30", "patient").html)
    section = next(element for element in page.walk() if element.attributes.get("id") == "whats-new")
    items = [normalise(item.all_text()) for item in section.walk() if item.tag == "li"]
    aid = default_pack().decision_aid

    assert len(default_pack().unverified_claims) == len(items)
    assert all("not checked" in item.lower() for item in items)
    assert [aid.unverified_claims[claim].text for claim in aid.whats_new] == [
        item.split("checked", 1)[1].split(" [")[0].strip() for item in items[: len(aid.whats_new)]
    ]


@pytest.mark.parametrize("audience", AUDIENCES)
def test_the_height_chart_is_drawn_with_its_source_and_the_unchecked_part_marked(audience: str) -> None:
    """Both reports chart height: 40–60% for kyphoplasty, under 5% for vertebroplasty, later loss marked."""
    html = rendered("02-collapse-over-30", audience).html
    page = parse(html)
    chart = next(
        element for element in page.walk() if element.tag == "svg" and "height-chart" in element.classes
    )
    labels = normalise(" ".join(chart.texts()))
    caption = next(
        element for element in page.walk() if element.attributes.get("id") == "height-chart-caption"
    )

    assert "Kyphoplasty: 40 to 60 percent" in labels
    assert "Vertebroplasty: less than 5 percent" in labels
    assert "After 500 loads" in labels
    assert "not checked" in labels
    assert "seed:000" in caption.all_text()
    assert "30 percent" in caption.all_text()


def test_the_evidence_caveat_and_the_uncertainty_are_in_the_patient_report() -> None:
    """The plain evidence caveat (sham-controlled trials and VAPOUR) is in "How sure are these numbers?"."""
    text = section_text(rendered("02-collapse-over-30", "patient").html, "uncertainty")

    assert normalise(default_pack().evidence_caveat.plain) in text
    for source in ("INVEST", "VAPOUR"):
        assert source in text


def test_the_about_section_dates_the_guide_and_states_update_policy_and_funding() -> None:
    """IPDAS certification: the pack's date, the update policy and the funding statement."""
    pack = default_pack()
    text = section_text(rendered("02-collapse-over-30", "patient").html, "about")

    assert pack.effective_date in text
    assert pack.decision_aid.about.update_policy.text in text
    assert pack.funding in text


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_the_clinician_report_shows_everything_the_assessment_says(name: str) -> None:
    """Decision, strength, score; every finding's rule id, checklist item, conflict, missing fact, score."""
    assessment = assess(vignette_case(name))
    html = rendered(name, "clinician").html
    text = visible_text(html)
    pack = default_pack()

    assert pack.decisions[assessment["decision"]].label in section_text(html, "decision")
    if assessment["strength"] is not None:
        assert f"{assessment['strength']} recommendation, factor score" in text
    for finding in [*assessment["findings"], *assessment["cautions"]]:
        assert finding["rule"] in section_text(html, "findings")
        assert normalise(finding["text"]) in text
    coverage = section_text(html, "coverage")
    for item in assessment["coverage"]["medicare_lcd"]["items"]:
        assert item["id"] in coverage
    for conflict in assessment["conflicts"]:
        assert normalise(conflict["resolution"]) in section_text(html, "conflicts")
    for entry in assessment["missing"]:
        assert entry["field"] in section_text(html, "missing")
    scores = section_text(html, "scores")
    for fracture in assessment["fractures"]:
        assert fracture["level"] in scores
    assert normalise(pack.evidence_caveat.text) in section_text(html, "evidence")
    for item in assessment["aftercare_plan"]:
        assert normalise(item["text"]) in section_text(html, "aftercare")


def test_the_lcd_checklist_shows_the_values_it_read() -> None:
    """Each checklist item lists the case's values it used, ready to document."""
    coverage = section_text(rendered("02-collapse-over-30", "clinician").html, "coverage")

    assert "pain.nrs: 7" in coverage
    assert "conservative_care.weeks: 6" in coverage
    assert "L2 onset_weeks: 7" in coverage
    assert "L2 height_loss_percent: 38" in coverage
    assert "patient.osteoporosis_treatment: referred" in coverage
    assert "pain.rdq: not given" in coverage


def test_the_clinician_report_gives_genant_deformity_and_ao_per_level() -> None:
    """The morphometry case shows its measured height loss, Genant grade, wedge type and AO OF class."""
    assessment = assess(vignette_case("18-morphometry-wedge"))
    fracture = assessment["fractures"][0]
    page = parse(rendered("18-morphometry-wedge", "clinician").html)
    scores = next(element for element in page.walk() if element.attributes.get("id") == "scores")
    row = [normalise(cell.all_text()) for cell in scores.walk() if cell.tag == "td"]

    assert fracture["level"] == row[0]
    assert str(fracture["genant_grade"]) == row[4]
    assert "wedge" == row[5]
    assert str(fracture["ao_of_class"]) == row[6]


HOSTILE_IDS: Final = [
    "<script>alert(1)</script>",
    '"><script>alert(1)</script><p x="',
    "A&B <b>bold</b> 'quoted'",
]


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("case_id", HOSTILE_IDS)
def test_a_case_id_with_markup_renders_inert(audience: str, case_id: str) -> None:
    """A case id is the user's string: it is escaped, shown as text, and never becomes markup."""
    case: dict[str, Any] = {**vignette_case("02-collapse-over-30"), "id": case_id}
    html = render_report(case, audience).html

    assert "<script" not in html.lower()
    assert "<b>" not in html
    assert case_id in visible_text(html)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_a_report_is_one_self_contained_file(audience: str) -> None:
    """No script, no external stylesheet, image or font; every link points inside the page."""
    html = rendered("02-collapse-over-30", audience).html
    page = parse(html)
    tags = {element.tag for element in page.walk()}
    links = [element.attributes.get("href", "") for element in page.walk() if "href" in element.attributes]
    ids = element_ids(html)

    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not [element for element in page.walk() if "src" in element.attributes]
    assert "url(" not in html and "@import" not in html
    assert all(link.startswith("#") and link[1:] in ids for link in links)
    assert "<style>" in html


def test_the_patient_report_pictures_the_main_benefits_and_harms() -> None:
    """Pain relief, any leak, harmful leak per 1,000, new fracture within a year, daily life: pictured."""
    outcomes = {
        array.attributes["data-outcome"]
        for array in icon_arrays(rendered("01-stable-pain-only", "patient").html)
    }

    assert {
        "pain_relief_24h",
        "any_cement_leak",
        "symptomatic_leak",
        "new_fracture_1y",
        "daily_activities_72h",
    } <= outcomes
