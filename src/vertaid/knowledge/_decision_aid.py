"""The patient decision aid's words (``decision_aid.yaml``): its schema, its cross-checks, its typed form.

The file holds everything a patient report says that carries clinical content. Besides its shape, the
loader checks that the aid is whole and balanced:

- every source it cites is in the bibliography;
- every option has the same sections with the same number of items, and as many downsides as good
  points (IPDAS: positive and negative features in equal detail);
- every ``{figure:ID}`` names an outcome that has a figure for the option it speaks of;
- there are plain words for every finding an assessment can report, every input of ``facts.yaml`` and
  every unverified claim, and an icon-array caption for every outcome counted in people;
- the height chart reads an outcome given as a share of lost height, and names the unverified claim
  behind the later loss of height.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from vertaid.domain._shapes import Field, Integer, ListOf, MappingOf, Number, Record, Shape, Text
from vertaid.domain.case import PRIORITIES
from vertaid.domain.pack import (
    FIGURE_PLACEHOLDER,
    AboutTheAid,
    AidText,
    DecisionAid,
    GridQuestion,
    HeightChart,
    OptionDescription,
    Outcome,
    OutcomePicture,
    Recommendation,
    SureTest,
)

__all__ = ["DECISION_AID_FILE", "OPTION_SECTIONS", "STRENGTHS", "build_decision_aid", "decision_aid_shape"]

DECISION_AID_FILE: Final = "decision_aid.yaml"

OPTION_SECTIONS: Final = ("what_happens", "good_points", "downsides")
STRENGTHS: Final = ("strong", "moderate", "weak")

_TEXT: Final = Text(non_blank=True)
_IDS: Final = ListOf(Text(non_blank=True), min_items=1, distinct=True)
_BRACE: Final = re.compile(r"[{}]")


def _required(shape: Shape) -> Field:
    return Field(shape, required=True)


_AID_TEXT: Final = Record({"text": _required(_TEXT), "sources": _required(_IDS)})
_AID_TEXTS: Final = ListOf(_AID_TEXT, min_items=1)


def decision_aid_shape(options: Sequence[str], decisions: Sequence[str]) -> Record:
    """The shape of ``decision_aid.yaml`` for a pack with these options and decisions."""
    option = Record(
        {
            "name": _required(_TEXT),
            "summary": _required(_AID_TEXT),
            **{section: _required(_AID_TEXTS) for section in OPTION_SECTIONS},
        }
    )
    return Record(
        {
            "condition": _required(_AID_TEXTS),
            "decision": _required(_AID_TEXTS),
            "options": _required(Record({name: _required(option) for name in options})),
            "option_grid": _required(
                ListOf(
                    Record(
                        {
                            "id": _required(_TEXT),
                            "question": _required(_TEXT),
                            "answers": _required(Record({name: _required(_AID_TEXT) for name in options})),
                        }
                    ),
                    min_items=1,
                )
            ),
            "outcome_pictures": _required(
                MappingOf(
                    Record(
                        {
                            "event": _required(_TEXT),
                            "non_event": _required(_TEXT),
                            "no_figure": Field(_AID_TEXT),
                            "uncertainty": _required(_AID_TEXT),
                        }
                    ),
                    min_items=1,
                )
            ),
            "height_chart": _required(
                Record(
                    {
                        "outcome": _required(_TEXT),
                        "gain_lost_percent": _required(Number(0, 100)),
                        "after_loads": _required(Integer(1)),
                        "claim": _required(_TEXT),
                        "sources": _required(_IDS),
                        "caption": _required(_AID_TEXT),
                    }
                )
            ),
            "recommendations": _required(
                Record(
                    {
                        decision: _required(
                            Record(
                                {
                                    "headline": _required(_TEXT),
                                    "text": _required(_TEXT),
                                    "sources": _required(_IDS),
                                }
                            )
                        )
                        for decision in decisions
                    }
                )
            ),
            "strengths": _required(Record({strength: _required(_TEXT) for strength in STRENGTHS})),
            "finding_reasons": _required(MappingOf(_TEXT, min_items=1)),
            "missing_facts": _required(MappingOf(_TEXT, min_items=1)),
            "priorities": _required(Record({priority: _required(_TEXT) for priority in PRIORITIES})),
            "values_exercise": _required(_AID_TEXTS),
            "questions": _required(_AID_TEXTS),
            "sure_test": _required(
                Record(
                    {
                        "items": _required(
                            ListOf(
                                Record({"letter": _required(_TEXT), "question": _required(_TEXT)}),
                                min_items=1,
                            )
                        ),
                        "advice": _required(_TEXT),
                        "sources": _required(_IDS),
                    }
                )
            ),
            "unverified_claims": _required(MappingOf(_TEXT)),
            "whats_new": _required(ListOf(_TEXT, distinct=True)),
            "uncertainty": _required(_AID_TEXTS),
            "about": _required(
                Record(
                    {
                        "made_from": _required(_TEXT),
                        "update_policy": _required(_TEXT),
                        "not_advice": _required(_TEXT),
                        "standard": _required(_TEXT),
                        "standard_sources": _required(_IDS),
                    }
                )
            ),
        }
    )


Cite = Callable[[Iterable[str], str], tuple[str, ...]]
Fail = Callable[[str, str], None]


class _AidBuilder:
    """Builds the :class:`DecisionAid`, reporting each problem with its path in the file."""

    def __init__(
        self,
        document: Mapping[str, Any],
        cite: Cite,
        fail: Fail,
        outcomes: Sequence[Outcome],
    ) -> None:
        self.document = document
        self.cite = cite
        self.fail = fail
        self.outcomes = {outcome.id: outcome for outcome in outcomes}

    def where(self, path: str) -> str:
        return f"{DECISION_AID_FILE}: {path}"

    def text(self, value: str, path: str, option: str | None = None) -> str:
        """Check the figures a text refers to; return the text."""
        for match in FIGURE_PLACEHOLDER.finditer(value):
            outcome_id, named = match["outcome"], match["option"]
            about = named or option
            outcome = self.outcomes.get(outcome_id)
            if outcome is None:
                self.fail(self.where(path), f"{match[0]} names unknown outcome {outcome_id!r}")
            elif about is None:
                self.fail(self.where(path), f"{match[0]} must name an option here ({{figure:ID:OPTION}})")
            elif about not in outcome.per_option:
                self.fail(self.where(path), f"{match[0]} names unknown option {about!r}")
            elif outcome.per_option[about] is None:
                self.fail(self.where(path), f"{match[0]}: outcome {outcome_id!r} has no figure for {about}")
        if _BRACE.search(FIGURE_PLACEHOLDER.sub("", value)):
            self.fail(self.where(path), "has a brace that is not a {figure:ID} placeholder")
        return value

    def aid_text(self, entry: Mapping[str, Any], path: str, option: str | None = None) -> AidText:
        return AidText(
            text=self.text(entry["text"], f"{path}.text", option),
            sources=self.cite(entry["sources"], self.where(f"{path}.sources")),
            origin=self.where(f"{path}.text"),
        )

    def aid_texts(
        self, entries: Sequence[Mapping[str, Any]], path: str, option: str | None = None
    ) -> tuple[AidText, ...]:
        return tuple(self.aid_text(entry, f"{path}[{i}]", option) for i, entry in enumerate(entries))

    def plain(self, value: str, path: str) -> AidText:
        """Words that cite no source of their own (a label, a finding's plain words)."""
        return AidText(self.text(value, path), (), self.where(path))

    def plain_mapping(self, name: str, expected: Collection[str], noun: str) -> dict[str, AidText]:
        given: Mapping[str, str] = self.document[name]
        for key in given:
            if key not in expected:
                self.fail(self.where(f"{name}.{key}"), f"is not {noun}")
        for key in expected:
            if key not in given:
                self.fail(self.where(name), f"has no plain words for {key!r}")
        return {key: self.plain(value, f"{name}.{key}") for key, value in given.items()}

    # -- sections --------------------------------------------------------------------------

    def options(self) -> tuple[OptionDescription, ...]:
        options = []
        for name, entry in self.document["options"].items():
            path = f"options.{name}"
            options.append(
                OptionDescription(
                    id=name,
                    name=entry["name"],
                    summary=self.aid_text(entry["summary"], f"{path}.summary", name),
                    **{
                        section: self.aid_texts(entry[section], f"{path}.{section}", name)
                        for section in OPTION_SECTIONS
                    },
                )
            )
            if len(entry["good_points"]) != len(entry["downsides"]):
                self.fail(
                    self.where(path),
                    f"has {len(entry['good_points'])} good points and {len(entry['downsides'])} downsides: "
                    "give each option's good points and downsides in equal detail",
                )
        for section in OPTION_SECTIONS:
            counts = {option.id: len(getattr(option, section)) for option in options}
            if len(set(counts.values())) > 1:
                self.fail(
                    self.where("options"),
                    f"{section} has a different number of items per option ({counts}): "
                    "describe every option with the same structure",
                )
        return tuple(options)

    def option_grid(self) -> tuple[GridQuestion, ...]:
        rows = []
        seen: set[str] = set()
        for i, entry in enumerate(self.document["option_grid"]):
            path = f"option_grid[{i}]"
            if entry["id"] in seen:
                self.fail(self.where(f"{path}.id"), f"question id {entry['id']!r} is used twice")
            seen.add(entry["id"])
            rows.append(
                GridQuestion(
                    id=entry["id"],
                    question=self.text(entry["question"], f"{path}.question"),
                    answers={
                        option: self.aid_text(answer, f"{path}.answers.{option}", option)
                        for option, answer in entry["answers"].items()
                    },
                )
            )
        return tuple(rows)

    def outcome_pictures(self) -> dict[str, OutcomePicture]:
        given = self.document["outcome_pictures"]
        counted = [outcome.id for outcome in self.outcomes.values() if outcome.unit == "people"]
        for outcome_id in given:
            if outcome_id not in counted:
                self.fail(
                    self.where(f"outcome_pictures.{outcome_id}"),
                    "is not an outcome of outcomes.yaml counted in people",
                )
        for outcome_id in counted:
            if outcome_id not in given:
                self.fail(self.where("outcome_pictures"), f"has no caption for outcome {outcome_id!r}")
        pictures = {}
        for outcome_id, entry in given.items():
            path = f"outcome_pictures.{outcome_id}"
            no_figure = entry.get("no_figure")
            pictures[outcome_id] = OutcomePicture(
                outcome=outcome_id,
                event=self.text(entry["event"], f"{path}.event"),
                non_event=self.text(entry["non_event"], f"{path}.non_event"),
                no_figure=None if no_figure is None else self.aid_text(no_figure, f"{path}.no_figure"),
                uncertainty=self.aid_text(entry["uncertainty"], f"{path}.uncertainty"),
            )
        return pictures

    def height_chart(self, claim_ids: Collection[str]) -> HeightChart:
        entry = self.document["height_chart"]
        path = "height_chart"
        outcome = self.outcomes.get(entry["outcome"])
        if outcome is None or outcome.unit != "percent_of_lost_height":
            self.fail(self.where(f"{path}.outcome"), "must name an outcome given as a share of lost height")
        if entry["claim"] not in claim_ids:
            self.fail(self.where(f"{path}.claim"), f"unknown unverified claim {entry['claim']!r}")
        return HeightChart(
            outcome=entry["outcome"],
            gain_lost_percent=float(entry["gain_lost_percent"]),
            after_loads=int(entry["after_loads"]),
            claim=entry["claim"],
            sources=self.cite(entry["sources"], self.where(f"{path}.sources")),
            caption=self.aid_text(entry["caption"], f"{path}.caption"),
            origin=self.where(path),
        )

    def recommendations(self) -> dict[str, Recommendation]:
        return {
            decision: Recommendation(
                headline=self.plain(entry["headline"], f"recommendations.{decision}.headline"),
                text=self.plain(entry["text"], f"recommendations.{decision}.text"),
                sources=self.cite(entry["sources"], self.where(f"recommendations.{decision}.sources")),
            )
            for decision, entry in self.document["recommendations"].items()
        }

    def sure_test(self) -> SureTest:
        entry = self.document["sure_test"]
        return SureTest(
            items=tuple((item["letter"], item["question"]) for item in entry["items"]),
            advice=entry["advice"],
            sources=self.cite(entry["sources"], self.where("sure_test.sources")),
        )

    def whats_new(self, claim_ids: Collection[str]) -> tuple[str, ...]:
        listed = tuple(self.document["whats_new"])
        for i, claim in enumerate(listed):
            if claim not in claim_ids:
                self.fail(self.where(f"whats_new[{i}]"), f"unknown unverified claim {claim!r}")
        return listed

    def about(self) -> AboutTheAid:
        entry = self.document["about"]
        standard = self.plain(entry["standard"], "about.standard")
        return AboutTheAid(
            made_from=self.plain(entry["made_from"], "about.made_from"),
            update_policy=self.plain(entry["update_policy"], "about.update_policy"),
            not_advice=self.plain(entry["not_advice"], "about.not_advice"),
            standard=AidText(
                standard.text,
                self.cite(entry["standard_sources"], self.where("about.standard_sources")),
                standard.origin,
            ),
        )


def build_decision_aid(
    document: Mapping[str, Any],
    *,
    cite: Cite,
    fail: Fail,
    outcomes: Sequence[Outcome],
    finding_ids: Collection[str],
    fact_names: Collection[str],
    claim_ids: Collection[str],
) -> DecisionAid:
    """Build the decision aid from its checked document, reporting cross-reference problems to ``fail``.

    Args:
        document: ``decision_aid.yaml``, already checked against its shape.
        cite: checks source ids against the bibliography and returns them.
        fail: records a problem (path, message).
        outcomes: the pack's outcomes, which figures and pictures refer to.
        finding_ids: every id a finding of an assessment can carry.
        fact_names: the inputs ``facts.yaml`` explains.
        claim_ids: the ids of the unverified claims.
    """
    builder = _AidBuilder(document, cite, fail, outcomes)
    return DecisionAid(
        condition=builder.aid_texts(document["condition"], "condition"),
        decision=builder.aid_texts(document["decision"], "decision"),
        options=builder.options(),
        option_grid=builder.option_grid(),
        outcome_pictures=builder.outcome_pictures(),
        height_chart=builder.height_chart(claim_ids),
        recommendations=builder.recommendations(),
        strengths={
            strength: builder.plain(text, f"strengths.{strength}")
            for strength, text in document["strengths"].items()
        },
        finding_reasons=builder.plain_mapping(
            "finding_reasons", finding_ids, "a finding an assessment reports"
        ),
        missing_facts=builder.plain_mapping("missing_facts", fact_names, "an input of facts.yaml"),
        priorities={
            priority: builder.plain(text, f"priorities.{priority}")
            for priority, text in document["priorities"].items()
        },
        values_exercise=builder.aid_texts(document["values_exercise"], "values_exercise"),
        questions=builder.aid_texts(document["questions"], "questions"),
        sure_test=builder.sure_test(),
        unverified_claims=builder.plain_mapping("unverified_claims", claim_ids, "an unverified claim"),
        whats_new=builder.whats_new(claim_ids),
        uncertainty=builder.aid_texts(document["uncertainty"], "uncertainty"),
        about=builder.about(),
    )
