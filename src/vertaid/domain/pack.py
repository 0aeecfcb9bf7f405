"""The knowledge pack as the engine reads it: typed, validated, with compiled conditions.

The knowledge layer (:mod:`vertaid.knowledge`) loads the YAML files, checks them and builds these
objects; the engine never reads a file. Every rule, parameter and figure carries the ids of its
sources, which the bibliography resolves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, TypeVar

from vertaid.domain.conditions import Condition

__all__ = [
    "FIGURE_PLACEHOLDER",
    "AboutTheAid",
    "AftercareItem",
    "AidText",
    "AoSpinePolicy",
    "CdsCard",
    "CdsService",
    "CdsWording",
    "ChoicePolicy",
    "Classification",
    "Conflict",
    "DecisionAid",
    "DecisionWording",
    "EvidenceCaveat",
    "GridQuestion",
    "HeightChart",
    "KnowledgePack",
    "MorphometryPolicy",
    "OptionDescription",
    "OrderCode",
    "Outcome",
    "OutcomePicture",
    "Parameter",
    "Recommendation",
    "Rule",
    "Source",
    "Step",
    "SureTest",
    "UnverifiedClaim",
    "Wording",
]


@dataclass(frozen=True, slots=True)
class Source:
    """A bibliography entry."""

    id: str
    kind: str
    title: str
    citation: str
    year: int | None
    url: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named threshold or setting, with the value in force at the pack's effective date."""

    name: str
    description: str
    unit: str
    value: Any
    since: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: when its condition holds it fires and is reported as a finding.

    ``favours`` is the decision or procedure the rule points to; ``weight`` is set for the factors of
    the kyphoplasty-versus-vertebroplasty score (positive favours kyphoplasty).
    """

    id: str
    step: str
    text: str
    sources: tuple[str, ...]
    condition: Condition
    favours: str | None = None
    weight: int | None = None
    reevaluate_after_weeks: str | None = None
    """For a rule that asks for more non-surgical care: the parameter giving the weeks of care to reach."""


@dataclass(frozen=True, slots=True)
class Step:
    """A step of the decision: the first step with a rule that fires decides."""

    id: str
    decision: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class ChoicePolicy:
    """Step 5: the factor score and how it maps to a procedure and a strength."""

    factors: tuple[Rule, ...]
    kyphoplasty_min_score: int
    vertebroplasty_max_score: int
    strong_min_magnitude: int
    moderate_min_magnitude: int
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Classification:
    """An ordered classification: the first class whose condition holds; unknown stops the search."""

    classes: tuple[tuple[Any, Condition], ...]
    otherwise: Any
    sources: tuple[str, ...]

    @property
    def facts_read(self) -> frozenset[str]:
        """Every fact the classification reads."""
        return frozenset().union(*(condition.facts_read for _, condition in self.classes))

    def classify(self, case: Any, fracture: Any) -> Any:
        """Return the class of a fracture, ``otherwise`` when none holds, or None when one is unknown."""
        for value, condition in self.classes:
            result = condition(case, fracture)
            if result is True:
                return value
            if result is None:
                return None
        return self.otherwise


@dataclass(frozen=True, slots=True)
class MorphometryPolicy:
    """Six-point morphometry, Genant grade and deformity type (policy §5)."""

    genant_lower_bounds: tuple[float, ...]
    """Height loss at which grades 1, 2, 3 begin (a grade runs up to, not including, the next)."""
    type_tie_order: tuple[str, ...]
    disagreement_points: float
    decimals: int
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AoSpinePolicy:
    """The AO Spine–DGOU OF class and the modified OF score (policy §5). Reported, never deciding."""

    of_class: Classification
    class_multiplier: int
    severe_osteoporosis_below_t_score: float
    severe_osteoporosis_points: int
    progression_points: int
    pain_min_nrs: int
    pain_points: int
    neurological_deficit_points: int
    immobile_points: int
    asa_above: int
    frailty_above: int
    health_deduction: int
    health_deduction_cap: int
    conservative_at_most: int
    operative_above: int
    sources: tuple[str, ...]
    caveat: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """A figure every option shows, per option, with its time frame and sources."""

    id: str
    label: str
    plain_label: str
    time_frame: str
    unit: str
    denominator: int | None
    per_option: Mapping[str, Mapping[str, float] | None]
    sources: tuple[str, ...]
    note: str | None


@dataclass(frozen=True, slots=True)
class Conflict:
    """Sources that disagree, the policy's choice, and the rules that bring it into a case."""

    id: str
    topic: str
    sources: tuple[str, ...]
    positions: str
    resolution: str
    touched_when_fired: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AftercareItem:
    """One item of the aftercare plan and the decisions it applies to."""

    id: str
    text: str
    plain: str
    applies_to: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvidenceCaveat:
    """What the sham-controlled and open-label trials say, in clinician and plain words."""

    text: str
    plain: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnverifiedClaim:
    """A claim in a seed that no primary source confirms: shown only as unverified."""

    id: str
    claim: str
    source: str
    status: str
    why: str


@dataclass(frozen=True, slots=True)
class Wording:
    """A finding that is not a rule of its own (a fracture's acuity): its id, text and sources."""

    id: str
    text: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DecisionWording:
    """How a decision is named and summarised (``{levels}``, ``{strength}``, ``{score}`` are filled in)."""

    label: str
    summary: str


FIGURE_PLACEHOLDER: Final = re.compile(r"\{figure:(?P<outcome>[a-z0-9_]+)(?::(?P<option>[a-z_]+))?\}")
"""``{figure:ID}`` or ``{figure:ID:OPTION}`` in decision-aid words: the figure of outcome ID for the
option being described, or for OPTION. Figures are written once, in ``outcomes.yaml``."""


@dataclass(frozen=True, slots=True)
class AidText:
    """Words of the patient decision aid, their sources, and where in the pack they are written.

    ``origin`` names the text's place as the loader reports problems (``decision_aid.yaml:
    options.kyphoplasty.good_points[0].text``), so a report can say where every number it shows came
    from. ``{figure:ID}`` in the text stands for an outcome figure, filled in by the report.
    """

    text: str
    sources: tuple[str, ...]
    origin: str


@dataclass(frozen=True, slots=True)
class OptionDescription:
    """One option as the decision aid describes it: each option has the same sections, equally long."""

    id: str
    name: str
    summary: AidText
    what_happens: tuple[AidText, ...]
    good_points: tuple[AidText, ...]
    downsides: tuple[AidText, ...]


@dataclass(frozen=True, slots=True)
class GridQuestion:
    """A row of the option grid: a question patients ask and a short answer for every option."""

    id: str
    question: str
    answers: Mapping[str, AidText]


@dataclass(frozen=True, slots=True)
class OutcomePicture:
    """How the icon arrays of one outcome are captioned, and what the figures leave uncertain."""

    outcome: str
    event: str
    non_event: str
    no_figure: AidText | None
    """Said instead of an array for an option with no figure (a plain default when absent)."""
    uncertainty: AidText


@dataclass(frozen=True, slots=True)
class HeightChart:
    """The height-over-time chart: restored height from an outcome, then the share of it lost later.

    The later loss is an unverified claim (``claim``), so the chart marks it as not checked.
    """

    outcome: str
    gain_lost_percent: float
    after_loads: int
    claim: str
    sources: tuple[str, ...]
    caption: AidText
    origin: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What the decision aid says about a decision, in plain words."""

    headline: AidText
    text: AidText
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SureTest:
    """The SURE test: four yes/no questions (letter, question) and what to do after a "no"."""

    items: tuple[tuple[str, str], ...]
    advice: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AboutTheAid:
    """How the decision aid was made and kept up to date, in plain words."""

    made_from: AidText
    update_policy: AidText
    not_advice: AidText
    standard: AidText


@dataclass(frozen=True)
class DecisionAid:
    """The words of the patient decision aid (``decision_aid.yaml``); the report shows nothing else.

    Options are in the order every part of the report shows them. ``finding_reasons`` has plain words
    for every finding an assessment can report; ``missing_facts`` for every input of ``facts.yaml``;
    ``unverified_claims`` for every unverified claim.
    """

    condition: tuple[AidText, ...]
    decision: tuple[AidText, ...]
    options: tuple[OptionDescription, ...]
    option_grid: tuple[GridQuestion, ...]
    outcome_pictures: Mapping[str, OutcomePicture]
    height_chart: HeightChart
    recommendations: Mapping[str, Recommendation]
    strengths: Mapping[str, AidText]
    finding_reasons: Mapping[str, AidText]
    missing_facts: Mapping[str, AidText]
    priorities: Mapping[str, AidText]
    values_exercise: tuple[AidText, ...]
    questions: tuple[AidText, ...]
    sure_test: SureTest
    unverified_claims: Mapping[str, AidText]
    whats_new: tuple[str, ...]
    uncertainty: tuple[AidText, ...]
    about: AboutTheAid


@dataclass(frozen=True, slots=True)
class CdsService:
    """A CDS Hooks service as discovery lists it: the hook it answers, its id, title and description."""

    hook: str
    id: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class OrderCode:
    """A procedure code an order may carry: the procedure it orders, the code of the other procedure
    for the same region (what a switch suggestion orders), and vertaid's own short display."""

    code: str
    procedure: str
    counterpart: str
    display: str


@dataclass(frozen=True, slots=True)
class CdsCard:
    """The words of one kind of CDS Hooks card.

    ``indicators`` and ``summaries`` map a decision to its indicator and summary where they differ by
    decision (otherwise the one ``indicator`` and ``summary`` hold for every decision); summaries are
    templates (``{levels}``, ``{ordered}``, ...). ``override_reasons`` are codes of
    :attr:`CdsWording.override_reasons`.
    """

    indicator: str | None
    summary: str | None
    indicators: Mapping[str, str]
    summaries: Mapping[str, str]
    suggestion: str | None
    override_reasons: tuple[str, ...]

    def indicator_for(self, decision: str) -> str:
        """The card's indicator for an assessment with this decision."""
        found = self.indicators.get(decision, self.indicator)
        assert found is not None, "the loader gives every card an indicator for every decision"
        return found

    def summary_for(self, decision: str) -> str:
        """The card's summary template for an assessment with this decision."""
        found = self.summaries.get(decision, self.summary)
        assert found is not None, "the loader gives every card a summary for every decision it is for"
        return found


@dataclass(frozen=True, slots=True)
class CdsWording:
    """What the CDS Hooks service says (``cds.yaml``): services, order codes, cards and override reasons."""

    sources: tuple[str, ...]
    source_label: str
    services: tuple[CdsService, ...]
    order_system: str
    order_codes: Mapping[str, OrderCode]
    order_sources: tuple[str, ...]
    order_status: str
    critical_steps: tuple[str, ...]
    procedures: Mapping[str, str]
    advice: Mapping[str, str]
    strengths: Mapping[str, str]
    levels_listed: int
    levels_more: str
    levels_joined_by: str
    levels_last_joined_by: str
    override_system: str
    override_reasons: Mapping[str, str]
    override_sources: tuple[str, ...]
    cards: Mapping[str, CdsCard]
    labels: Mapping[str, str]

    def levels(self, levels: tuple[str, ...] | list[str]) -> str:
        """The target levels as a summary names them: listed up to ``levels_listed``, else counted."""
        if len(levels) > self.levels_listed:
            return self.levels_more.format(count=len(levels))
        if len(levels) < 2:
            return "".join(levels)
        return self.levels_joined_by.join(levels[:-1]) + self.levels_last_joined_by + levels[-1]


_Derived = TypeVar("_Derived")
_NOT_MADE: Final = object()


@dataclass(frozen=True)
class KnowledgePack:
    """Everything the engine knows, loaded from one versioned pack."""

    id: str
    version: str
    title: str
    effective_date: str
    digest: str
    sources: Mapping[str, Source]
    parameters: Mapping[str, Parameter]
    acuity: Classification
    definitions: tuple[Rule, ...]
    steps: tuple[Step, ...]
    choice: ChoicePolicy
    coverage: tuple[Rule, ...]
    coverage_sources: tuple[str, ...]
    cautions: tuple[Rule, ...]
    reports: tuple[Rule, ...]
    morphometry: MorphometryPolicy
    morphometry_disagreement: Wording
    ao_spine: AoSpinePolicy
    outcomes: tuple[Outcome, ...]
    conflicts: tuple[Conflict, ...]
    aftercare: tuple[AftercareItem, ...]
    evidence_caveat: EvidenceCaveat
    unverified_claims: tuple[UnverifiedClaim, ...]
    facts_why: Mapping[str, str]
    decisions: Mapping[str, DecisionWording]
    acuity_wording: Mapping[str, Wording]
    update_policy: str
    funding: str
    decision_aid: DecisionAid
    cds: CdsWording
    origins: Mapping[str, str]
    """Where each entry is written, as the loader names places (``policy.yaml: choice.factors[0]``), by
    ``kind:id``: ``rule:K-height``, ``outcome:pain_relief_24h``, ``conflict:…``, ``aftercare:…``,
    ``claim:…``, ``source:…``, ``fact:…``, and ``caveat``, ``pack`` and ``ao_spine`` for the single ones."""

    def derived(self, name: str, build: Callable[[KnowledgePack], _Derived]) -> _Derived:
        """Return what ``build`` works out from the pack, made once and kept with the pack.

        For the engine's indexes, compiled rule lists and fixed output sections: each is a function of
        the pack alone, so it is made on first use and shared by every case.
        """
        made = self._derived.get(name, _NOT_MADE)
        if made is _NOT_MADE:
            made = self._derived[name] = build(self)
        return made  # type: ignore[no-any-return]

    @cached_property
    def _derived(self) -> dict[str, Any]:
        return {}

    @cached_property
    def step_of_rule(self) -> Mapping[str, int]:
        """The position, in ``steps``, of the step each step rule belongs to."""
        return {rule.id: position for position, step in enumerate(self.steps) for rule in step.rules}

    @cached_property
    def step_position(self) -> Mapping[str, int]:
        """The position of each step in ``steps``, by step id."""
        return {step.id: position for position, step in enumerate(self.steps)}

    @cached_property
    def factor_weights(self) -> Mapping[str, int]:
        """The weight of each choice factor, by rule id."""
        return {factor.id: factor.weight or 0 for factor in self.choice.factors}
