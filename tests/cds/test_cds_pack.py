"""The cards' words in the knowledge pack (cds.yaml): the loader refuses words that would break the
spec's rules or name what does not exist, and the words are part of the pack's digest."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertaid.knowledge import InvalidPack, load_pack


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A copy of the shipped pack that a test may change."""
    target = tmp_path / "vcf-v1"
    with resources.as_file(resources.files("vertaid.knowledge") / "packs" / "vcf-v1") as source:
        shutil.copytree(source, target)
    return target


def edited(pack: Path, change: Callable[[dict[str, Any]], None]) -> list[tuple[str, str]]:
    """The problems loading the pack reports once cds.yaml is changed (none: it loads)."""
    path = pack / "cds.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        load_pack(pack)
    except InvalidPack as error:
        return error.problems
    return []


def test_a_summary_that_could_reach_140_characters_does_not_load(pack_dir: Path) -> None:
    """A summary is checked with the longest value of each placeholder: 140 characters or more fails."""
    problems = edited(
        pack_dir,
        lambda d: d["cards"]["order_agrees"].update(
            summary="The {ordered} order agrees for {levels}" + "!" * 100
        ),
    )

    assert [("cds.yaml: cards.order_agrees.summary", "fewer than 140")] == [
        (where, "fewer than 140") for where, message in problems if "fewer than 140" in message
    ]


def test_a_placeholder_the_card_does_not_fill_does_not_load(pack_dir: Path) -> None:
    """{favoured} means nothing on the card of an order that agrees."""
    problems = edited(pack_dir, lambda d: d["cards"]["order_agrees"].update(summary="{favoured} agrees"))

    assert any("favoured" in message for _, message in problems)


def test_an_unknown_override_reason_does_not_load(pack_dir: Path) -> None:
    """A card may offer only override reasons listed with their display."""
    problems = edited(pack_dir, lambda d: d["cards"]["order_not_yet"]["override_reasons"].append("bored"))

    assert ("cds.yaml: cards.order_not_yet.override_reasons[5]", "'bored' is not a listed reason") in problems


def test_a_counterpart_of_the_same_procedure_does_not_load(pack_dir: Path) -> None:
    """A switch must order the other procedure: a vertebroplasty code cannot be its own counterpart."""
    problems = edited(pack_dir, lambda d: d["orders"]["codes"]["22510"].update(counterpart="22511"))

    assert ("cds.yaml: orders.codes.22510.counterpart", "must be a code of the other procedure") in problems


def test_an_indicator_cds_hooks_does_not_know_does_not_load(pack_dir: Path) -> None:
    """Only info, warning and critical are indicators."""
    problems = edited(pack_dir, lambda d: d["cards"]["order_agrees"].update(indicator="success"))

    assert any(where == "cds.yaml: cards.order_agrees.indicator" for where, _ in problems)


def test_a_recommendation_missing_a_decision_does_not_load(pack_dir: Path) -> None:
    """patient-view has a summary for every decision an assessment can make."""
    problems = edited(pack_dir, lambda d: d["cards"]["recommendation"]["summaries"].pop("either"))

    assert ("cds.yaml: cards.recommendation.summaries", "has nothing for 'either'") in problems


def test_a_critical_step_that_is_not_a_step_does_not_load(pack_dir: Path) -> None:
    """Critical steps are named by the policy's step ids."""
    problems = edited(pack_dir, lambda d: d["critical_steps"].append("red-flags"))

    assert ("cds.yaml: critical_steps[2]", "'red-flags' is not a step of the policy") in problems


def test_the_card_words_are_part_of_the_digest(pack_dir: Path) -> None:
    """Changing a card's words changes the pack's digest."""
    before = load_pack(pack_dir).digest

    assert [] == edited(pack_dir, lambda d: d["labels"].update(why="Reasons"))
    assert before != load_pack(pack_dir).digest


def test_the_shipped_pack_cites_the_standards_its_cards_follow() -> None:
    """cds.yaml cites CDS Hooks 2.0.1 and the HL7 override reasons, and the order codes' sources: the
    LCD and CMS's page naming the six codes; which code is which is still marked secondary."""
    from vertaid.knowledge import default_pack

    wording = default_pack().cds
    assert ("CDS Hooks 2.0.1",) == wording.sources
    assert ("HL7 non-adherence reasons",) == wording.override_sources
    assert ("LCD L34228", "CMS RAC 0139") == wording.order_sources
    assert wording.order_status.startswith("SECONDARY")
