"""The decision aid's words in the knowledge pack (``decision_aid.yaml``): whole, balanced, cited.

The loader refuses a decision aid that cites an unknown source, describes one option in more detail
than another, refers to a figure that does not exist, leaves a finding, an input or an unverified claim
without plain words, or misses an icon-array caption; the file is part of the pack's digest.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.test_knowledge_pack import assert_reported, edit, problems_loading
from vertaid.knowledge import PACK_FILES, default_pack, load_pack

AID = "decision_aid.yaml"


@pytest.fixture
def aid_pack(tmp_path: Path) -> Path:
    """A copy of the shipped vcf-v1 pack that a test may change."""
    shipped = resources.files("vertaid.knowledge") / "packs" / "vcf-v1"
    target = tmp_path / "vcf-v1"
    with resources.as_file(shipped) as source:
        shutil.copytree(source, target)
    return target


def test_the_decision_aid_is_a_file_of_the_pack() -> None:
    """decision_aid.yaml is loaded with the pack and typed: options in the pack's order, each described."""
    aid = default_pack().decision_aid

    assert AID in PACK_FILES
    assert ["kyphoplasty", "vertebroplasty", "conservative_care"] == [option.id for option in aid.options]
    assert 9 == len(aid.option_grid)
    assert 4 == len(aid.sure_test.items)


def test_changing_a_word_of_the_decision_aid_changes_the_digest(aid_pack: Path) -> None:
    """The decision aid is part of the pack's meaning: its words are in the digest."""
    before = load_pack(aid_pack).digest

    edit(aid_pack, AID, lambda aid: aid["questions"].append({"text": "Is it safe?", "sources": ["seed:000"]}))

    assert before != load_pack(aid_pack).digest


def test_an_item_citing_an_unknown_source_does_not_load(aid_pack: Path) -> None:
    """Every item of the decision aid cites sources of the bibliography."""
    edit(
        aid_pack,
        AID,
        lambda aid: aid["options"]["kyphoplasty"]["good_points"][0].update(sources=["seed:999"]),
    )

    assert_reported(
        problems_loading(aid_pack),
        AID,
        "options.kyphoplasty.good_points[0].sources",
        "unknown source 'seed:999'",
    )


def test_more_good_points_than_downsides_does_not_load(aid_pack: Path) -> None:
    """Positive and negative features in equal detail (IPDAS): as many downsides as good points."""
    edit(
        aid_pack,
        AID,
        lambda aid: aid["options"]["kyphoplasty"]["good_points"].append(
            {"text": "It is great.", "sources": ["seed:000"]}
        ),
    )

    assert_reported(problems_loading(aid_pack), AID, "options.kyphoplasty", "equal detail")


def test_one_option_described_at_more_length_does_not_load(aid_pack: Path) -> None:
    """Every option has the same number of items in each section: no option gets more space."""

    def longer(aid: Any) -> None:
        aid["options"]["vertebroplasty"]["what_happens"].append(
            {"text": "You rest after.", "sources": ["seed:000"]}
        )

    edit(aid_pack, AID, longer)

    assert_reported(problems_loading(aid_pack), AID, "options", "what_happens", "same structure")


def test_a_figure_of_an_unknown_outcome_does_not_load(aid_pack: Path) -> None:
    """``{figure:ID}`` must name an outcome of outcomes.yaml."""
    edit(
        aid_pack,
        AID,
        lambda aid: aid["option_grid"][1]["answers"]["kyphoplasty"].update(text="{figure:pain_gone} do."),
    )

    assert_reported(
        problems_loading(aid_pack), AID, "option_grid[1].answers.kyphoplasty.text", "unknown outcome"
    )


def test_a_figure_an_option_does_not_have_does_not_load(aid_pack: Path) -> None:
    """Non-surgical care has no pain-relief figure: the aid cannot show one for it."""

    def invent(aid: Any) -> None:
        aid["option_grid"][1]["answers"]["conservative_care"]["text"] = (
            "{figure:pain_relief_24h} feel better."
        )

    edit(aid_pack, AID, invent)

    assert_reported(
        problems_loading(aid_pack),
        AID,
        "answers.conservative_care.text",
        "has no figure for conservative_care",
    )


def test_a_number_in_braces_that_is_not_a_figure_does_not_load(aid_pack: Path) -> None:
    """Only ``{figure:ID}`` placeholders may stand in the words: no other templating."""
    edit(aid_pack, AID, lambda aid: aid["questions"][0].update(text="Is {level} healed?"))

    assert_reported(problems_loading(aid_pack), AID, "questions[0].text", "brace")


def test_a_finding_without_plain_words_does_not_load(aid_pack: Path) -> None:
    """Every finding an assessment can report has plain words for the patient report."""
    edit(aid_pack, AID, lambda aid: aid["finding_reasons"].pop("K-height"))

    assert_reported(problems_loading(aid_pack), AID, "finding_reasons", "'K-height'")


def test_plain_words_for_an_unknown_finding_do_not_load(aid_pack: Path) -> None:
    """Plain words must belong to a finding the pack can report."""
    edit(aid_pack, AID, lambda aid: aid["finding_reasons"].update({"K-magic": "It is magic."}))

    assert_reported(problems_loading(aid_pack), AID, "finding_reasons.K-magic", "is not a finding")


def test_an_unverified_claim_without_plain_words_does_not_load(aid_pack: Path) -> None:
    """Every unverified claim is shown to patients, so each needs plain words."""
    edit(aid_pack, AID, lambda aid: aid["unverified_claims"].pop("UC-coast-trial"))

    assert_reported(problems_loading(aid_pack), AID, "unverified_claims", "'UC-coast-trial'")


def test_an_outcome_counted_in_people_without_a_caption_does_not_load(aid_pack: Path) -> None:
    """Every outcome counted in people is pictured, so each needs its caption words."""
    edit(aid_pack, AID, lambda aid: aid["outcome_pictures"].pop("new_fracture_1y"))

    assert_reported(problems_loading(aid_pack), AID, "outcome_pictures", "'new_fracture_1y'")


def test_a_height_chart_resting_on_an_unknown_claim_does_not_load(aid_pack: Path) -> None:
    """The chart's later loss of height must name the unverified claim it rests on."""
    edit(aid_pack, AID, lambda aid: aid["height_chart"].update(claim="UC-none"))

    assert_reported(problems_loading(aid_pack), AID, "height_chart.claim", "unknown unverified claim")


def test_a_missing_recommendation_does_not_load(aid_pack: Path) -> None:
    """Every decision has plain words for the patient report."""
    edit(aid_pack, AID, lambda aid: aid["recommendations"].pop("either"))

    assert_reported(problems_loading(aid_pack), AID, "recommendations.either", "is required")
