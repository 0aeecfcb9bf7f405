"""What the clinician's report shows, built from an assessment, the case and the knowledge pack.

The decision, strength and score; every finding with its rule id and sources; the conflicts; the
missing facts and what each value would change; the Medicare LCD checklist with the values it read;
the scores per level; the relative cautions; the evidence caveat; the figures per option; the
aftercare orders; the unverified claims. All of it is read from the assessment and the pack — the
report re-decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from vertaid.domain.facts import FACTS, fracture_input
from vertaid.domain.pack import KnowledgePack
from vertaid.report._height_chart import height_chart
from vertaid.report._provenance import Trail, assessment_origin, case_origin, member, pack_origin
from vertaid.report._sources import bibliography, case_text, case_value, level_texts
from vertaid.report._words import Line, figure_words, outcome_origin

__all__ = ["clinician_view"]

_DERIVED: Final = frozenset({"targets", "acuity", "is_target"})
"""Facts the engine derives from others; the checklist shows the inputs they come from."""


@dataclass(frozen=True, slots=True)
class FindingView:
    """A finding as the clinician's table shows it."""

    rule: str
    step: str
    text: str
    favours: str
    weight: str
    levels: list[str]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ValueUsed:
    """An input a coverage item read, and its value in this case."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class CoverageItemView:
    """One item of the Medicare LCD checklist."""

    id: str
    text: str
    status: str
    values: list[ValueUsed]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MissingView:
    """A fact the case leaves unknown, why it matters, and the result under each value it could take."""

    field: str
    why: str
    outcomes: list[tuple[str, str, str]]


@dataclass(frozen=True, slots=True)
class FigureRowView:
    """An outcome figure of every option, with its time frame, sources and caveats."""

    label: str
    time_frame: str
    figures: list[str]
    sources: tuple[str, ...]
    note: str | None


def _signed(trail: Trail, value: float | None, origin: str) -> str:
    return "—" if value is None else trail.signed(value, origin)


def _shown(trail: Trail, value: Any, origin: str) -> str:
    """A value of the case or the assessment as the report shows it."""
    if value is None:
        return "not given"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return trail.number(value, origin)
    if isinstance(value, list):
        return ", ".join(
            _shown(trail, member_value, f"{origin}[{i}]") for i, member_value in enumerate(value)
        )
    return trail.text(str(value), origin)


def _decision_label(pack: KnowledgePack, decision: str | None) -> str:
    return "—" if decision is None else pack.decisions[decision].label


def _findings(
    trail: Trail, pack: KnowledgePack, assessment: Mapping[str, Any], case: Mapping[str, Any]
) -> list[FindingView]:
    rows = []
    for finding in [*assessment["findings"], *assessment["cautions"]]:
        origin = pack_origin(pack.origins[f"rule:{finding['rule']}"])
        rows.append(
            FindingView(
                rule=finding["rule"],
                step=finding["step"],
                text=trail.text(finding["text"], member(origin, "text")),
                favours=_decision_label(pack, finding["favours"]),
                weight=_signed(trail, finding["weight"], member(origin, "weight")),
                levels=level_texts(trail, case, finding.get("levels", [])),
                sources=trail.cite(finding["sources"]),
            )
        )
    return rows


def _values_used(
    trail: Trail, pack: KnowledgePack, rule_id: str, assessment: Mapping[str, Any], case: Mapping[str, Any]
) -> list[ValueUsed]:
    rule = next(rule for rule in pack.coverage if rule.id == rule_id)
    facts = sorted(rule.condition.facts_read, key=lambda name: (fracture_input(name), name))
    positions = {fracture["level"]: index for index, fracture in enumerate(case["fractures"])}
    values = []
    levels = level_texts(trail, case, assessment["target_levels"])
    if "targets" in facts:
        values.append(ValueUsed("target levels", ", ".join(levels) or "none"))
    for name in facts:
        if name in _DERIVED or name not in FACTS:
            continue
        if not fracture_input(name):
            values.append(ValueUsed(name, _shown(trail, case_value(case, name), case_origin(name))))
            continue
        for level, level_shown in zip(assessment["target_levels"], levels, strict=True):
            index = positions[level]
            if name == "height_loss_percent":
                path = f"fractures[{index}].height_loss_percent"
                value = _shown(trail, case_value(assessment, path), assessment_origin(path))
            else:
                path = f"fractures[{index}].{name}"
                value = _shown(trail, case_value(case, path), case_origin(path))
            values.append(ValueUsed(f"{level_shown} {name}", value))
    return values


def _coverage(
    trail: Trail, pack: KnowledgePack, assessment: Mapping[str, Any], case: Mapping[str, Any]
) -> list[CoverageItemView]:
    items = []
    for item in assessment["coverage"]["medicare_lcd"]["items"]:
        origin = pack_origin(pack.origins[f"rule:{item['id']}"])
        status = "met" if item["met"] else "not met" if item["documented"] else "not documented"
        items.append(
            CoverageItemView(
                id=item["id"],
                text=trail.text(item["text"], member(origin, "text")),
                status=status,
                values=_values_used(trail, pack, item["id"], assessment, case),
                sources=trail.cite(item["sources"]),
            )
        )
    return items


def _missing(trail: Trail, pack: KnowledgePack, assessment: Mapping[str, Any]) -> list[MissingView]:
    rows = []
    for i, entry in enumerate(assessment["missing"]):
        here = f"missing[{i}]"
        outcomes = []
        for j, result in enumerate(entry["outcomes"]):
            there = f"{here}.outcomes[{j}]"
            decision = _decision_label(pack, result["decision"])
            if result["score"] is not None:
                decision += f" ({_signed(trail, result['score'], assessment_origin(f'{there}.score'))})"
            coverage = "LCD met" if result["coverage_met"] else "LCD not met"
            outcomes.append(
                (trail.text(result["when"], assessment_origin(f"{there}.when")), decision, coverage)
            )
        rows.append(
            MissingView(
                field=trail.text(entry["field"], assessment_origin(f"{here}.field")),
                why=trail.text(entry["why"], assessment_origin(f"{here}.why")),
                outcomes=outcomes,
            )
        )
    return rows


def _fractures(trail: Trail, assessment: Mapping[str, Any], case: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for i, fracture in enumerate(assessment["fractures"]):
        here = f"fractures[{i}]"

        def shown(key: str, here: str = here, fracture: Mapping[str, Any] = fracture) -> str:
            value = fracture[key]
            return "—" if value is None else _shown(trail, value, assessment_origin(f"{here}.{key}"))

        height = shown("height_loss_percent")
        if fracture["height_loss_source"] is not None:
            height += f" ({fracture['height_loss_source']})"
        rows.append(
            [
                *level_texts(trail, case, [fracture["level"]]),
                fracture["acuity"],
                height,
                shown("measured_height_loss_percent"),
                shown("genant_grade"),
                shown("deformity_type"),
                shown("ao_of_class"),
                shown("ao_of_score"),
            ]
        )
    return rows


def _figures(trail: Trail, pack: KnowledgePack) -> list[FigureRowView]:
    rows = []
    options = [option.id for option in pack.decision_aid.options]
    for entry in pack.outcomes:
        origin = outcome_origin(pack, entry.id)
        rows.append(
            FigureRowView(
                label=trail.text(entry.label, member(origin, "label")),
                time_frame=trail.text(entry.time_frame, member(origin, "time_frame")),
                figures=[
                    "no figure"
                    if entry.per_option.get(option) is None
                    else figure_words(trail, pack, entry.id, option)
                    for option in options
                ],
                sources=trail.cite(entry.sources),
                note=None if entry.note is None else trail.text(entry.note, member(origin, "note")),
            )
        )
    return rows


def _conflicts(
    trail: Trail, pack: KnowledgePack, conflicts: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    shown = []
    for conflict in conflicts:
        origin = pack_origin(pack.origins[f"conflict:{conflict['id']}"])
        shown.append(
            {
                "id": conflict["id"],
                "topic": trail.text(conflict["topic"], member(origin, "topic")),
                "positions": trail.text(conflict["positions"], member(origin, "positions")),
                "resolution": trail.text(conflict["resolution"], member(origin, "resolution")),
                "sources": trail.cite(conflict["sources"]),
            }
        )
    return shown


def clinician_view(
    trail: Trail, pack: KnowledgePack, assessment: Mapping[str, Any], case: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything the clinician's report shows, as plain strings for the template."""
    names = {option.id: option.name for option in pack.decision_aid.options}
    knowledge = assessment["knowledge"]
    again = assessment.get("reevaluate")
    caveat = pack_origin(pack.origins["caveat"])
    ao_spine = pack_origin(pack.origins["ao_spine"])
    view: dict[str, Any] = {
        "case_id": case_text(trail, case, "id"),
        "decision": _decision_label(pack, assessment["decision"]),
        "strength": assessment["strength"],
        "score": _signed(trail, assessment["score"], assessment_origin("score")),
        "summary": trail.text(assessment["summary"], assessment_origin("summary")),
        "target_levels": level_texts(trail, case, assessment["target_levels"]),
        "knowledge": {
            key: trail.text(str(knowledge[key]), assessment_origin(f"knowledge.{key}"))
            for key in ("id", "version", "effective_date", "digest")
        },
        "findings": _findings(trail, pack, assessment, case),
        "conflicts": _conflicts(trail, pack, assessment["conflicts"]),
        "missing": _missing(trail, pack, assessment),
        "coverage_met": assessment["coverage"]["medicare_lcd"]["met"],
        "coverage": _coverage(trail, pack, assessment, case),
        "coverage_sources": trail.cite(assessment["coverage"]["medicare_lcd"]["sources"]),
        "fractures": _fractures(trail, assessment, case),
        "ao_of_score": _shown(trail, assessment["ao_of_score"], assessment_origin("ao_of_score"))
        if assessment["ao_of_score"] is not None
        else "—",
        "ao_of_score_reading": assessment["ao_of_score_reading"],
        "ao_caveat": Line(
            trail.text(pack.ao_spine.caveat, member(ao_spine, "caveat")), trail.cite(pack.ao_spine.sources)
        ),
        "caveat": Line(
            trail.text(assessment["evidence_caveat"]["text"], member(caveat, "text")),
            trail.cite(assessment["evidence_caveat"]["sources"]),
        ),
        "option_names": [option.name for option in pack.decision_aid.options],
        "figures": _figures(trail, pack),
        "height_chart": height_chart(trail, pack, names),
        "aftercare": [
            Line(
                trail.text(
                    item["text"], member(pack_origin(pack.origins[f"aftercare:{item['id']}"]), "text")
                ),
                trail.cite(item["sources"]),
            )
            for item in assessment["aftercare_plan"]
        ],
        "reevaluate": None
        if again is None
        else (
            trail.number(again["after_weeks_of_care"], assessment_origin("reevaluate.after_weeks_of_care")),
            trail.number(again["weeks_from_now"], assessment_origin("reevaluate.weeks_from_now")),
        ),
        "unverified": [
            (
                trail.text(
                    claim["claim"], member(pack_origin(pack.origins[f"claim:{claim['id']}"]), "claim")
                ),
                trail.text(claim["why"], member(pack_origin(pack.origins[f"claim:{claim['id']}"]), "why")),
                trail.cite([claim["source"]]),
            )
            for claim in assessment["unverified_claims"]
        ],
    }
    view["sources"] = bibliography(trail, pack)
    return view
