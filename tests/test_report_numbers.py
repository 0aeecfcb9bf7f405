"""Every number in a report is traceable: the renderer records each one with where it came from.

Two checks, on both reports of every vignette:

1. every recorded piece resolves — ``pack:<file>: <path>`` to an entry of the knowledge pack's YAML,
   ``case:<path>`` to the case's own input (a level, the case id, a value a checklist read) and
   ``assessment:<path>`` to the value the engine computed from the case and the pack — and the shown
   text is that value (or part of that text, or the complement of a figure to its denominator);
2. take every recorded piece out of the report's visible text and no digit is left: no number was
   written that the record does not account for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

import pytest
import yaml

from tests.report_pages import (
    AUDIENCES,
    DIGITS,
    VIGNETTE_NAMES,
    normalise,
    rendered,
    vignette_case,
    visible_text,
)
from vertaid import assess
from vertaid.knowledge import PACK_FILES
from vertaid.report import Traced
from vertaid.report._provenance import format_number

_STEP: Final = re.compile(r"\[(\d+)\]")


@cache
def pack_documents() -> dict[str, Any]:
    """The shipped pack's YAML files, parsed, by file name."""
    folder = resources.files("vertaid.knowledge") / "packs" / "vcf-v1"
    return {name: yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8")) for name in PACK_FILES}


def navigate(document: Any, path: str) -> Any:
    """The value at ``path`` (``outcomes[0].per_option.kyphoplasty.low``; ``$`` is the whole document).

    Keys may hold dots or spaces (``BCBS 6.01.38``, ``patient.t_score``): at each object the longest
    key that the rest of the path starts with is taken.
    """
    rest = "" if path == "$" else path
    value = document
    while rest:
        index = _STEP.match(rest)
        if index:
            value = value[int(index[1])]
            rest = rest[index.end() :]
        else:
            keys = [key for key in value if rest == key or rest.startswith((f"{key}.", f"{key}["))]
            if not keys:
                raise KeyError(f"no key at {rest!r}")
            key = max(keys, key=len)
            value = value[key]
            rest = rest[len(key) :]
        rest = rest.removeprefix(".")
    return value


def resolve(origin: str, case: Mapping[str, Any], assessment: Mapping[str, Any]) -> Any:
    """The value a trail origin names."""
    kind, _, place = origin.partition(":")
    if kind == "pack":
        file, _, path = place.partition(": ")
        return navigate(pack_documents()[file], path)
    if kind == "case":
        return navigate(case, place)
    if kind == "assessment":
        return navigate(assessment, place)
    raise ValueError(f"unknown origin {origin!r}")


def problems_with(
    trail: Iterable[Traced], case: Mapping[str, Any], assessment: Mapping[str, Any]
) -> list[str]:
    """Each recorded piece that does not match the value at its origin."""
    problems = []
    for traced in trail:
        try:
            value = resolve(traced.origin, case, assessment)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            problems.append(f"{traced}: does not resolve ({error})")
            continue
        if traced.how == "text":
            ok = isinstance(value, str) and normalise(traced.shown) in normalise(value)
        elif traced.how == "number":
            ok = isinstance(value, int | float) and format_number(value) == traced.shown
        elif traced.how == "magnitude":
            ok = isinstance(value, int | float) and format_number(abs(value)) == traced.shown
        elif traced.how.startswith("complement of "):
            denominator = int(traced.how.removeprefix("complement of "))
            outcome = traced.origin.split(".per_option.")[0]
            ok = (
                isinstance(value, int | float)
                and format_number(denominator - value) == traced.shown
                and resolve(f"{outcome}.denominator", case, assessment) == denominator
            )
        elif traced.how == "key":
            ok = traced.origin.endswith(traced.shown) and value is not None
        else:
            ok = False
        if not ok:
            problems.append(f"{traced}: the value there is {value!r}")
    return problems


def unaccounted_digits(text: str, trail: Iterable[Traced]) -> list[str]:
    """What is left around each digit of ``text`` once every recorded piece is taken out of it."""
    rest = normalise(text)
    for shown in sorted({normalise(traced.shown) for traced in trail}, key=len, reverse=True):
        pattern = re.escape(shown)
        if shown[:1].isdigit():
            pattern = r"(?<![\d.,])" + pattern
        if shown[-1:].isdigit():
            pattern += r"(?![\d]|[.,]\d)"
        rest = re.sub(pattern, " ", rest)
    return [rest[max(match.start() - 30, 0) : match.end() + 30] for match in DIGITS.finditer(rest)]


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_every_recorded_number_is_the_value_at_its_origin(name: str, audience: str) -> None:
    """Each number the renderer recorded is the pack entry, case input or assessment value it names."""
    case = vignette_case(name)
    report = rendered(name, audience)

    assert [] == problems_with(report.trail, case, assess(case))


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_no_number_in_a_report_is_left_unaccounted_for(name: str, audience: str) -> None:
    """Every digit a reader sees belongs to a piece the renderer recorded with its origin."""
    report = rendered(name, audience)

    assert [] == unaccounted_digits(visible_text(report.html), report.trail)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_numbers_come_from_the_pack_the_case_or_the_assessment_only(audience: str) -> None:
    """Every origin is a pack entry, a case input or an assessment value; the pack's are most of them."""
    report = rendered("02-collapse-over-30", audience)
    kinds = [traced.origin.partition(":")[0] for traced in report.trail]

    assert set(kinds) <= {"pack", "case", "assessment"}
    assert kinds.count("pack") > kinds.count("case") + kinds.count("assessment")


def test_the_case_inputs_shown_are_named_as_such() -> None:
    """Levels and the case id are traced to the case, never passed off as pack figures."""
    multilevel = rendered("16-junction-multilevel", "clinician")
    named = rendered("02-collapse-over-30", "patient")
    levels = {traced.shown: traced.origin for traced in multilevel.trail if traced.origin.startswith("case:")}
    ids = {traced.shown: traced.origin for traced in named.trail if traced.origin.startswith("case:")}

    assert "case:fractures[0].level" == levels["T12"]
    assert "case:fractures[1].level" == levels["L1"]
    assert "case:id" == ids["collapse-over-30"]


def test_a_number_written_without_a_record_is_caught() -> None:
    """The check can fail: a figure slipped into the page with no record is found."""
    report = rendered("02-collapse-over-30", "patient")
    tampered = report.html.replace("</h1>", " 37 out of 100</h1>", 1)

    assert [] != unaccounted_digits(visible_text(tampered), report.trail)


def test_a_record_that_misstates_its_origin_is_caught() -> None:
    """The check can fail: a recorded figure that differs from the pack entry it names is found."""
    case = vignette_case("02-collapse-over-30")
    wrong = Traced("86", "pack:outcomes.yaml: outcomes[0].per_option.kyphoplasty.low", "number")

    assert [] != problems_with([wrong], case, assess(case))


def test_figures_are_traced_to_outcomes_yaml() -> None:
    """The pain-relief figures in the patient report are traced to the outcome's entry in outcomes.yaml."""
    report = rendered("02-collapse-over-30", "patient")
    origins = {traced.origin for traced in report.trail if traced.shown in ("85", "90")}

    assert "pack:outcomes.yaml: outcomes[0].per_option.kyphoplasty.low" in origins
    assert "pack:outcomes.yaml: outcomes[0].per_option.vertebroplasty.high" in origins
