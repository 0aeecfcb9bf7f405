"""What the patient decision aid shows, built from an assessment, the case and the knowledge pack.

Nothing here decides anything: the decision, its reasons, the missing facts, the aftercare plan and
the figures are read from the assessment (``vertaid.assessment/1``) and the pack; the words are the
pack's ``decision_aid.yaml``. Options appear in the pack's order everywhere, each with the same parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from markupsafe import Markup

from vertaid.domain.engine import AUGMENTATION
from vertaid.domain.pack import KnowledgePack, Outcome, OutcomePicture
from vertaid.report._height_chart import height_chart
from vertaid.report._icon_array import icon_array, icon_counts
from vertaid.report._provenance import Trail, assessment_origin, member, pack_origin
from vertaid.report._sources import bibliography, case_text, level_texts
from vertaid.report._words import Line, figure_words, line, outcome_origin, plain

__all__ = ["patient_view"]

_FRACTURE_FIELD: Final = re.compile(r"^fractures\[\d+\]\.")


@dataclass(frozen=True, slots=True)
class OptionView:
    """One option, described with the same parts as every other."""

    id: str
    name: str
    summary: Line
    what_happens: list[Line]
    good_points: list[Line]
    downsides: list[Line]


@dataclass(frozen=True, slots=True)
class GridRowView:
    """A question of the option grid and one answer per option."""

    question: str
    answers: list[Line]


@dataclass(frozen=True, slots=True)
class PictureView:
    """One option in a comparison: its icon array and caption, or what is said instead."""

    option: str
    svg: Markup | None
    caption_id: str
    caption: str
    caption_rest: str
    no_figure: Line | None


@dataclass(frozen=True, slots=True)
class ComparisonView:
    """One outcome, every option side by side on the same denominator and time frame."""

    id: str
    title: str
    time_frame: str
    pictures: list[PictureView]
    uncertainty: Line
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReasonView:
    """A finding in plain words, with the levels it is about."""

    text: str
    levels: list[str]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ForYouView:
    """What the guide suggests for this patient, and why."""

    headline: str
    text: Line
    strength: str | None
    target_levels: list[str]
    about_the_break: list[ReasonView]
    reasons: list[ReasonView]
    toward: list[tuple[str, list[ReasonView]]]
    also_noted: list[ReasonView]
    checks: list[ReasonView]
    missing: list[str]
    check_again_in_weeks: str | None


def _options(trail: Trail, pack: KnowledgePack) -> list[OptionView]:
    return [
        OptionView(
            id=option.id,
            name=option.name,
            summary=line(trail, pack, option.summary, option.id),
            what_happens=[line(trail, pack, words, option.id) for words in option.what_happens],
            good_points=[line(trail, pack, words, option.id) for words in option.good_points],
            downsides=[line(trail, pack, words, option.id) for words in option.downsides],
        )
        for option in pack.decision_aid.options
    ]


def _grid(trail: Trail, pack: KnowledgePack) -> list[GridRowView]:
    order = [option.id for option in pack.decision_aid.options]
    return [
        GridRowView(row.question, [line(trail, pack, row.answers[option], option) for option in order])
        for row in pack.decision_aid.option_grid
    ]


def _rest_words(trail: Trail, figure: Mapping[str, float], denominator: int, origin: str) -> str:
    if "low" in figure:
        return (
            f"{trail.complement(figure['high'], denominator, member(origin, 'high'))} to "
            f"{trail.complement(figure['low'], denominator, member(origin, 'low'))}"
        )
    return trail.complement(figure["value"], denominator, member(origin, "value"))


def _picture(
    trail: Trail, pack: KnowledgePack, entry: Outcome, words: OutcomePicture, option: str, name: str
) -> PictureView:
    caption_id = f"picture-{entry.id}-{option}".replace("_", "-")
    figure = entry.per_option.get(option)
    if figure is None or entry.denominator is None:
        no_figure = None if words.no_figure is None else line(trail, pack, words.no_figure, option)
        return PictureView(name, None, caption_id, "", "", no_figure)
    origin = member(member(outcome_origin(pack, entry.id), "per_option"), option)
    denominator = trail.number(entry.denominator, member(outcome_origin(pack, entry.id), "denominator"))
    rest = _rest_words(trail, figure, entry.denominator, origin)
    counts = icon_counts(figure, entry.denominator)
    svg = icon_array(
        counts, outcome=entry.id, option=option, time_frame=entry.time_frame, label_id=caption_id
    )
    return PictureView(
        option=name,
        svg=svg,
        caption_id=caption_id,
        caption=f"{figure_words(trail, pack, entry.id, option)} {words.event}.",
        caption_rest=f"{rest} out of {denominator} {words.non_event}.",
        no_figure=None,
    )


def _comparisons(trail: Trail, pack: KnowledgePack) -> list[ComparisonView]:
    comparisons = []
    aid = pack.decision_aid
    for entry in pack.outcomes:
        words = aid.outcome_pictures.get(entry.id)
        if words is None:
            continue
        origin = outcome_origin(pack, entry.id)
        comparisons.append(
            ComparisonView(
                id=entry.id.replace("_", "-"),
                title=trail.text(entry.plain_label, member(origin, "plain_label")),
                time_frame=trail.text(entry.time_frame, member(origin, "time_frame")),
                pictures=[
                    _picture(trail, pack, entry, words, option.id, option.name) for option in aid.options
                ],
                uncertainty=line(trail, pack, words.uncertainty),
                sources=trail.cite(entry.sources),
            )
        )
    return comparisons


def _reason(
    trail: Trail, pack: KnowledgePack, finding: Mapping[str, Any], case: Mapping[str, Any]
) -> ReasonView:
    words = pack.decision_aid.finding_reasons[finding["rule"]]
    return ReasonView(
        text=trail.text(words.text, pack_origin(words.origin)),
        levels=level_texts(trail, case, finding.get("levels", [])),
        sources=trail.cite(finding["sources"]),
    )


def _for_you(
    trail: Trail, pack: KnowledgePack, assessment: Mapping[str, Any], case: Mapping[str, Any]
) -> ForYouView:
    aid = pack.decision_aid
    decision = assessment["decision"]
    advice = aid.recommendations[decision]
    findings: Sequence[Mapping[str, Any]] = assessment["findings"]
    names = {option.id: option.name for option in aid.options}
    if decision in AUGMENTATION:
        deciding = [f for f in findings if f["step"] == "choice"]
    else:
        deciding = [f for f in findings if f["favours"] == decision]
    toward = [
        (names[option], [_reason(trail, pack, f, case) for f in deciding if f["favours"] == option])
        for option in ("kyphoplasty", "vertebroplasty")
        if decision in AUGMENTATION
    ]
    strength = assessment["strength"]
    missing: dict[str, None] = {}
    for entry in assessment["missing"]:
        words = aid.missing_facts.get(_FRACTURE_FIELD.sub("", entry["field"]))
        if words is not None:
            missing.setdefault(trail.text(words.text, pack_origin(words.origin)), None)
    again = assessment.get("reevaluate")
    return ForYouView(
        headline=trail.text(advice.headline.text, pack_origin(advice.headline.origin)),
        text=plain(trail, advice.text.text, pack_origin(advice.text.origin), advice.sources),
        strength=None
        if strength is None
        else trail.text(aid.strengths[strength].text, pack_origin(aid.strengths[strength].origin)),
        target_levels=level_texts(trail, case, assessment["target_levels"]),
        about_the_break=[_reason(trail, pack, f, case) for f in findings if f["step"] == "acuity"],
        reasons=[] if decision in AUGMENTATION else [_reason(trail, pack, f, case) for f in deciding],
        toward=toward,
        also_noted=[
            _reason(trail, pack, f, case)
            for f in findings
            if f["favours"] is None and f["step"] not in ("acuity", "choice")
        ],
        checks=[_reason(trail, pack, f, case) for f in assessment["cautions"]],
        missing=list(missing),
        check_again_in_weeks=None
        if again is None
        else trail.number(again["weeks_from_now"], assessment_origin("reevaluate.weeks_from_now")),
    )


def patient_view(
    trail: Trail, pack: KnowledgePack, assessment: Mapping[str, Any], case: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything the patient report shows, as plain strings and lines for the template."""
    aid = pack.decision_aid
    names = {option.id: option.name for option in aid.options}
    priorities = case.get("preferences", {}) or {}
    claims = {claim.id: claim for claim in pack.unverified_claims}
    unverified_order = [*aid.whats_new, *(claim for claim in claims if claim not in aid.whats_new)]
    unverified = [
        (
            claim_id in aid.whats_new,
            plain(
                trail,
                aid.unverified_claims[claim_id].text,
                pack_origin(aid.unverified_claims[claim_id].origin),
                (claims[claim_id].source,),
            ),
        )
        for claim_id in unverified_order
    ]
    knowledge = pack.origins["pack"]
    view: dict[str, Any] = {
        "case_id": case_text(trail, case, "id"),
        "condition": [line(trail, pack, words) for words in aid.condition],
        "decision": [line(trail, pack, words) for words in aid.decision],
        "option_names": [option.name for option in aid.options],
        "options": _options(trail, pack),
        "grid": _grid(trail, pack),
        "comparisons": _comparisons(trail, pack),
        "height_chart": height_chart(trail, pack, names),
        "for_you": _for_you(trail, pack, assessment, case),
        "priorities": [
            trail.text(aid.priorities[p].text, pack_origin(aid.priorities[p].origin))
            for p in priorities.get("priorities") or ()
        ],
        "values_exercise": [line(trail, pack, words) for words in aid.values_exercise],
        "questions": [line(trail, pack, words) for words in aid.questions],
        "sure_items": list(aid.sure_test.items),
        "sure_advice": aid.sure_test.advice,
        "sure_sources": trail.cite(aid.sure_test.sources),
        "aftercare": [
            plain(
                trail,
                item["plain"],
                member(pack_origin(pack.origins[f"aftercare:{item['id']}"]), "plain"),
                tuple(item["sources"]),
            )
            for item in assessment["aftercare_plan"]
        ],
        "uncertainty": [line(trail, pack, words) for words in aid.uncertainty],
        "caveat": plain(
            trail,
            assessment["evidence_caveat"]["plain"],
            member(pack_origin(pack.origins["caveat"]), "plain"),
            tuple(assessment["evidence_caveat"]["sources"]),
        ),
        "unverified": unverified,
        "about": {
            "made_from": plain(trail, aid.about.made_from.text, pack_origin(aid.about.made_from.origin)),
            "update_policy": plain(
                trail, aid.about.update_policy.text, pack_origin(aid.about.update_policy.origin)
            ),
            "not_advice": plain(trail, aid.about.not_advice.text, pack_origin(aid.about.not_advice.origin)),
            "standard": plain(
                trail,
                aid.about.standard.text,
                pack_origin(aid.about.standard.origin),
                aid.about.standard.sources,
            ),
            "funding": plain(trail, pack.funding, member(pack_origin(knowledge), "funding")),
            "date": trail.text(pack.effective_date, member(pack_origin(knowledge), "effective_date")),
            "version": trail.text(pack.version, member(pack_origin(knowledge), "version")),
            "pack_id": trail.text(pack.id, member(pack_origin(knowledge), "id")),
        },
    }
    view["knowledge_digest"] = trail.text(
        assessment["knowledge"]["digest"], assessment_origin("knowledge.digest")
    )
    view["sources"] = bibliography(trail, pack)
    return view
