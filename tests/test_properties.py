"""Properties of the assessment that hold for every valid case (hypothesis).

The strategy ``cases()`` generates valid ``vertaid.case/1`` objects (CONTRACT §2) exercising every
member: optional members are sometimes absent and sometimes null, there are one to four fractures at
distinct levels, and six-point morphometry is sometimes given. ``cases(eligible=True)`` generates
cases that pass steps 1 to 3 of the policy (no red flag, no contraindication, nothing to work up), and
``cases(candidate=True)`` cases that also pass step 4, so that every step and the factor score are
exercised often.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Final

import hypothesis.strategies as st
from hypothesis import HealthCheck, assume, given, settings

import vertaid
from vertaid.domain._shapes import ROOT, Record
from vertaid.domain.case import (
    CASE_SHAPE,
    CONSERVATIVE_CARE_SHAPE,
    FRACTURE_SHAPE,
    LEVELS,
    PAIN_SHAPE,
    PATIENT_SHAPE,
    PREFERENCES_SHAPE,
    parse_case,
)
from vertaid.domain.engine import build_facts, decide, evaluate_rules, rules_in_order
from vertaid.domain.facts import FACTS
from vertaid.domain.what_if import what_would_change
from vertaid.knowledge import default_pack

# CONTRACT §3: the decisions that recommend cement augmentation (the only ones with a score).
AUGMENTATION: Final = frozenset({"kyphoplasty", "vertebroplasty", "either"})
STRENGTHS: Final = frozenset({"strong", "moderate", "weak"})

SETTINGS: Final = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_ABSENT: Final = "<absent>"
"""A drawn 'value' meaning: leave the member out of the object."""

PRIORITIES: Final = ("pain_relief", "posture", "lowest_cost", "lowest_risk", "fast_recovery")
MODALITIES: Final = ("analgesics", "brace", "physical_therapy", "rest", "other")


# -- strategies ------------------------------------------------------------------------------


def _number(low: float, high: float) -> st.SearchStrategy[float | int]:
    """A number within [low, high]: sometimes a whole number, usually a float."""
    whole: st.SearchStrategy[float | int] = st.integers(int(low), int(high))
    fractional: st.SearchStrategy[float | int] = st.floats(
        min_value=low, max_value=high, allow_nan=False, allow_infinity=False
    )
    return st.one_of(fractional, whole)


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, null, or the marker for an absent member."""
    return st.one_of(values, st.none(), st.just(_ABSENT))


def _rare_flag() -> st.SearchStrategy[Any]:
    """A finding marked (f) that is usually not present: mostly false, absent or null, sometimes true."""
    return st.integers(0, 15).map(lambda n: {0: True, 1: None, 2: _ABSENT, 3: _ABSENT}.get(n, False))


def _put(draw: st.DrawFn, target: dict[str, Any], key: str, values: st.SearchStrategy[Any]) -> None:
    """Set ``target[key]`` to a drawn value, unless the draw says the member is absent."""
    value = draw(values)
    if not (isinstance(value, str) and value == _ABSENT):
        target[key] = value


_BOOL: Final = _maybe(st.booleans())


@st.composite
def _morphometry(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "anterior": draw(_number(0, 100)),
        "middle": draw(_number(0, 100)),
        "posterior": draw(_number(0, 100)),
        "reference_posterior": draw(
            st.floats(min_value=0, max_value=100, exclude_min=True, allow_nan=False).filter(
                lambda v: v >= 1e-3
            )
        ),
    }


@st.composite
def _fracture(draw: st.DrawFn, level: str, eligible: bool, target: bool) -> dict[str, Any]:
    fracture: dict[str, Any] = {"level": level}
    _put(
        draw,
        fracture,
        "cause",
        _maybe(st.sampled_from(("osteoporotic", "malignant", "traumatic", "unknown"))),
    )
    _put(draw, fracture, "onset_weeks", _maybe(_number(0, 520)))
    if target:
        fracture["mri_edema"] = True
    else:
        _put(draw, fracture, "mri_edema", _BOOL)
    _put(draw, fracture, "bone_scan_uptake", _BOOL)
    _put(draw, fracture, "height_loss_percent", _maybe(_number(0, 100)))
    _put(draw, fracture, "morphometry_mm", _maybe(_morphometry()))
    _put(draw, fracture, "height_loss_progressing", _BOOL)
    _put(draw, fracture, "kyphotic_deformity", _BOOL)
    _put(draw, fracture, "kyphotic_angle_deg", _maybe(_number(0, 90)))
    _put(draw, fracture, "endplates_involved", _maybe(st.sampled_from((0, 1, 2))))
    _put(draw, fracture, "posterior_wall", _maybe(st.sampled_from(("intact", "minor", "major"))))
    red_flag: st.SearchStrategy[Any] = st.sampled_from((False, None, _ABSENT)) if eligible else _rare_flag()
    for flag in ("tension_band_failure", "retropulsion", "neurological_deficit", "vertebra_plana"):
        _put(draw, fracture, flag, red_flag)
    _put(draw, fracture, "intravertebral_cleft", _BOOL)
    return fracture


@st.composite
def _cases(draw: st.DrawFn, eligible: bool, candidate: bool) -> dict[str, Any]:
    """A valid case; an ``eligible`` one passes steps 1-3 of the policy (CLINICAL_POLICY §2), a
    ``candidate`` steps 1-4."""
    eligible = eligible or candidate
    case: dict[str, Any] = {}
    _put(draw, case, "id", _maybe(st.text(max_size=30)))

    patient: dict[str, Any] = {"age": draw(st.integers(18, 120))}
    _put(draw, patient, "sex", _maybe(st.sampled_from(("female", "male", "other", "unknown"))))
    _put(draw, patient, "setting", _maybe(st.sampled_from(("outpatient", "inpatient"))))
    _put(draw, patient, "t_score", _maybe(st.floats(min_value=-8.0, max_value=4.0, allow_nan=False)))
    _put(draw, patient, "activity_level", _maybe(st.sampled_from(("low", "moderate", "high"))))
    _put(draw, patient, "insurance", _maybe(st.sampled_from(("medicare", "private", "uninsured", "other"))))
    _put(draw, patient, "asa_class", _maybe(st.integers(1, 5)))
    _put(draw, patient, "frailty_index", _maybe(st.integers(0, 5)))
    for flag in (
        "severe_cardiopulmonary_disease",
        "pulmonary_dysfunction",
        "anticoagulated",
        "contrast_allergy",
    ):
        _put(draw, patient, flag, _BOOL)
    contraindication: st.SearchStrategy[Any] = (
        st.sampled_from((False, None, _ABSENT)) if eligible else _rare_flag()
    )
    for flag in ("active_infection", "osteomyelitis_or_discitis", "cement_allergy", "pregnant"):
        _put(draw, patient, flag, contraindication)
    coagulopathy = ("none", "corrected") if eligible else ("none", "corrected", "uncorrected")
    _put(draw, patient, "coagulopathy", _maybe(st.sampled_from(coagulopathy)))
    _put(
        draw, patient, "osteoporosis_treatment", _maybe(st.sampled_from(("none", "referred", "on_treatment")))
    )
    case["patient"] = patient

    pain: dict[str, Any] = {"nrs": draw(st.integers(5, 10) if candidate else st.integers(0, 10))}
    trends = ("stable", "worsening") if candidate else ("improving", "stable", "worsening")
    _put(draw, pain, "trend", st.sampled_from(trends) if candidate else _maybe(st.sampled_from(trends)))
    if eligible:
        pain["concordant_with_fracture"] = True
    else:
        _put(draw, pain, "concordant_with_fracture", _BOOL)
    _put(draw, pain, "rdq", _maybe(st.integers(0, 24)))
    _put(draw, pain, "can_mobilise", _BOOL)
    case["pain"] = pain

    if candidate:
        case["conservative_care"] = {"weeks": draw(_number(4, 520))}
    else:
        care: dict[str, Any] = {}
        _put(draw, care, "weeks", _maybe(st.one_of(_number(0, 12), _number(0, 520))))
        _put(draw, care, "modalities", _maybe(st.lists(st.sampled_from(MODALITIES), unique=True)))
        _put(draw, case, "conservative_care", st.one_of(st.just(care), st.none(), st.just(_ABSENT)))
    if candidate and draw(st.booleans()):
        case["conservative_care"]["modalities"] = draw(st.lists(st.sampled_from(MODALITIES), unique=True))

    levels = draw(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=4, unique=True))
    first_target = draw(st.integers(0, len(levels) - 1))
    case["fractures"] = [
        draw(_fracture(level, eligible, target=eligible and index == first_target))
        for index, level in enumerate(levels)
    ]

    preferences: dict[str, Any] = {}
    _put(draw, preferences, "priorities", _maybe(st.lists(st.sampled_from(PRIORITIES), unique=True)))
    _put(draw, preferences, "cost_sensitive", _BOOL)
    _put(draw, case, "preferences", st.one_of(st.just(preferences), st.none(), st.just(_ABSENT)))
    return case


def cases(*, eligible: bool = False, candidate: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Valid ``vertaid.case/1`` objects; ``eligible`` ones reach step 4, ``candidate`` ones the score."""
    strategy: st.SearchStrategy[dict[str, Any]] = _cases(eligible, candidate)
    return strategy


ANY_CASE: Final[st.SearchStrategy[dict[str, Any]]] = st.one_of(
    cases(), cases(eligible=True), cases(candidate=True)
)


# -- helpers ---------------------------------------------------------------------------------


_PATH_PART: Final = re.compile(r"([A-Za-z_]+)(?:\[(\d+)\])?")


def lookup(case: dict[str, Any], field: str) -> Any:
    """Return the value at a JSON path such as ``fractures[0].mri_edema``; None when absent or null."""
    node: Any = case
    for part in field.split("."):
        match = _PATH_PART.fullmatch(part)
        assert match is not None, field
        if not isinstance(node, dict):
            return None
        node = node.get(match.group(1))
        if match.group(2) is not None:
            if not isinstance(node, list):
                return None
            node = node[int(match.group(2))]
    return node


def assign(case: dict[str, Any], field: str, value: Any) -> None:
    """Set the member at a JSON path, creating an absent or null section on the way."""
    parts = field.split(".")
    node: Any = case
    for part in parts[:-1]:
        match = _PATH_PART.fullmatch(part)
        assert match is not None, field
        key = match.group(1)
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
        if match.group(2) is not None:
            node = node[int(match.group(2))]
    node[parts[-1]] = value


def cited_sources(document: Any) -> Iterator[str]:
    """Every source id cited anywhere in an assessment (every ``sources`` list)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "sources" and isinstance(value, list):
                yield from value
            else:
                yield from cited_sources(value)
    elif isinstance(document, list):
        for member in document:
            yield from cited_sources(member)


def coverage_met(assessment: dict[str, Any]) -> bool:
    """Whether the assessment says the Medicare LCD criteria are met."""
    met: bool = assessment["coverage"]["medicare_lcd"]["met"]
    return met


# -- 1, 2: total and deterministic -----------------------------------------------------------


@SETTINGS
@given(ANY_CASE)
def test_assessing_any_valid_case_never_raises_and_gives_strict_json(case: dict[str, Any]) -> None:
    """Every valid case is assessed without an error, into a document that is strict JSON (no NaN)."""
    assessment = vertaid.assess(case)

    text = json.dumps(assessment, allow_nan=False)

    assert assessment == json.loads(text)
    assert "vertaid.assessment/1" == assessment["schema"]


@SETTINGS
@given(ANY_CASE)
def test_assessing_the_same_case_twice_gives_the_same_assessment(case: dict[str, Any]) -> None:
    """The same case gives the same assessment every time, also as a deep copy, and is left unchanged."""
    original = copy.deepcopy(case)

    first = vertaid.assess(case)
    second = vertaid.assess(case)
    third = vertaid.assess(copy.deepcopy(case))

    assert first == second
    assert first == third
    assert original == case


def _scribble(value: Any) -> None:
    """Change every object and list inside a JSON-like value, in place."""
    if isinstance(value, dict):
        for member in list(value.values()):
            _scribble(member)
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            _scribble(item)
        value.append("scribbled")


@SETTINGS
@given(ANY_CASE)
def test_changing_a_returned_assessment_changes_no_later_assessment(case: dict[str, Any]) -> None:
    """Every object and list of an assessment is the caller's own: changing them all, in place, leaves
    the next assessment of the same case as it was (nothing returned is shared with the pack or a cache)."""
    first = vertaid.assess(case)
    expected = copy.deepcopy(first)

    _scribble(first)

    assert expected == vertaid.assess(case)


@SETTINGS
@given(ANY_CASE)
def test_a_records_quick_check_builds_what_its_full_check_builds(case: dict[str, Any]) -> None:
    """The quick check of a record (every member accepted as it is) builds the same value, with the same
    types, as the full member-by-member check: for the case and for each of its parts."""
    parts: list[tuple[Record, Any]] = [(CASE_SHAPE, case), (PATIENT_SHAPE, case["patient"])]
    parts.append((PAIN_SHAPE, case["pain"]))
    parts.extend((FRACTURE_SHAPE, fracture) for fracture in case["fractures"])
    parts.extend((shape, case.get(name)) for name, shape in OPTIONAL_SECTIONS.items())

    for shape, value in parts:
        if not isinstance(value, dict):
            continue  # an absent or null section takes its default
        quick, full = shape.check(value, ROOT, []), shape.check_fully(value, ROOT, [])
        assert (quick, repr(quick)) == (full, repr(full))


OPTIONAL_SECTIONS: Final = {"conservative_care": CONSERVATIVE_CARE_SHAPE, "preferences": PREFERENCES_SHAPE}


# -- 3, 4: contraindications and red flags ---------------------------------------------------


def _heal_every_fracture(case: dict[str, Any], data: st.DataObject) -> None:
    for fracture in case["fractures"]:
        fracture["mri_edema"] = False
        choice = data.draw(st.sampled_from((False, None, _ABSENT)), label="bone_scan_uptake")
        if choice == _ABSENT:
            fracture.pop("bone_scan_uptake", None)
        else:
            fracture["bone_scan_uptake"] = choice


CONTRAINDICATIONS: Final[dict[str, Callable[[dict[str, Any], st.DataObject], None]]] = {
    "active_infection": lambda case, _: assign(case, "patient.active_infection", True),
    "osteomyelitis_or_discitis": lambda case, _: assign(case, "patient.osteomyelitis_or_discitis", True),
    "pregnant": lambda case, _: assign(case, "patient.pregnant", True),
    "coagulopathy_uncorrected": lambda case, _: assign(case, "patient.coagulopathy", "uncorrected"),
    "cement_allergy": lambda case, _: assign(case, "patient.cement_allergy", True),
    "pain_not_concordant": lambda case, _: assign(case, "pain.concordant_with_fracture", False),
    "every_fracture_healed": _heal_every_fracture,
}


@SETTINGS
@given(ANY_CASE, st.sampled_from(sorted(CONTRAINDICATIONS)), st.data())
def test_adding_a_contraindication_never_yields_augmentation(
    case: dict[str, Any], contraindication: str, data: st.DataObject
) -> None:
    """Adding any step-2 contraindication to any valid case never recommends kyphoplasty or vertebroplasty."""
    CONTRAINDICATIONS[contraindication](case, data)

    assessment = vertaid.assess(case)

    assert assessment["decision"] not in AUGMENTATION
    assert assessment["score"] is None


RED_FLAGS: Final = ("neurological_deficit", "retropulsion", "tension_band_failure", "vertebra_plana")


@SETTINGS
@given(ANY_CASE, st.sampled_from(RED_FLAGS), st.data())
def test_adding_a_red_flag_always_yields_surgical_consultation(
    case: dict[str, Any], flag: str, data: st.DataObject
) -> None:
    """Adding a red flag to any fracture of any valid case yields a surgical consultation."""
    index = data.draw(st.integers(0, len(case["fractures"]) - 1), label="fracture")
    case["fractures"][index][flag] = True

    assessment = vertaid.assess(case)

    assert "surgical_consultation" == assessment["decision"]


# -- 5, 6: the factor score ------------------------------------------------------------------


@SETTINGS
@given(
    cases(candidate=True),
    st.data(),
    st.floats(min_value=0, max_value=30, allow_nan=False),
    st.floats(min_value=30, max_value=100, exclude_min=True, allow_nan=False),
)
def test_raising_a_target_levels_height_loss_above_30_never_lowers_the_score(
    case: dict[str, Any], data: st.DataObject, before: float, after: float
) -> None:
    """Raising one target level's height loss from 30% or less to more than 30% never lowers the score."""
    targets = [i for i, fracture in enumerate(case["fractures"]) if fracture.get("mri_edema") is True]
    index = data.draw(st.sampled_from(targets), label="target")
    case["fractures"][index]["height_loss_percent"] = before
    lower = vertaid.assess(case)
    case["fractures"][index]["height_loss_percent"] = after
    higher = vertaid.assess(case)
    assume(lower["decision"] in AUGMENTATION and higher["decision"] in AUGMENTATION)

    assert higher["score"] >= lower["score"]


@SETTINGS
@given(ANY_CASE)
def test_score_and_strength_are_given_exactly_for_augmentation_decisions(case: dict[str, Any]) -> None:
    """``score`` and ``strength`` are null exactly when the decision is not an augmentation decision."""
    assessment = vertaid.assess(case)

    augmentation = assessment["decision"] in AUGMENTATION
    assert augmentation == (assessment["score"] is not None)
    assert augmentation == (assessment["strength"] is not None)
    if augmentation:
        assert isinstance(assessment["score"], int)
        assert assessment["strength"] in STRENGTHS


@SETTINGS
@given(cases(candidate=True))
def test_the_decision_and_strength_follow_the_score_as_the_policy_says(case: dict[str, Any]) -> None:
    """The score is the sum of the reported factor weights, and sets the decision and strength (policy §3)."""
    assessment = vertaid.assess(case)
    assume(assessment["decision"] in AUGMENTATION)
    score = assessment["score"]

    weights = sum(f["weight"] for f in assessment["findings"] if f["step"] == "choice")
    decision = "kyphoplasty" if score >= 2 else "vertebroplasty" if score <= -2 else "either"
    strength = "strong" if abs(score) >= 4 else "moderate" if abs(score) >= 2 else "weak"
    assert weights == score
    assert decision == assessment["decision"]
    assert strength == assessment["strength"]


# -- 7: target levels and sources ------------------------------------------------------------


@SETTINGS
@given(ANY_CASE)
def test_target_levels_are_the_unhealed_fractures_in_case_order(case: dict[str, Any]) -> None:
    """``target_levels`` are the fractures with MRI edema or bone scan uptake, reported unhealed, in order."""
    assessment = vertaid.assess(case)

    reported_unhealed = [f["level"] for f in assessment["fractures"] if f["acuity"] == "unhealed"]
    imaging_unhealed = [
        f["level"]
        for f in case["fractures"]
        if f.get("mri_edema") is True or f.get("bone_scan_uptake") is True
    ]
    assert reported_unhealed == assessment["target_levels"]
    assert imaging_unhealed == assessment["target_levels"]
    assert [f["level"] for f in case["fractures"]] == [f["level"] for f in assessment["fractures"]]


@SETTINGS
@given(ANY_CASE)
def test_every_finding_cites_sources_from_the_bibliography(case: dict[str, Any]) -> None:
    """Every finding cites at least one source, and every source the assessment cites is in the pack."""
    assessment = vertaid.assess(case)
    bibliography = set(default_pack().sources)

    assert [] == [f["rule"] for f in assessment["findings"] if not f["sources"]]
    assert set() == set(cited_sources(assessment)) - bibliography


# -- 8: what would change the decision -------------------------------------------------------


@SETTINGS
@given(ANY_CASE)
def test_every_missing_entry_is_unknown_and_would_change_the_result(case: dict[str, Any]) -> None:
    """Every ``missing`` field is absent or null in the case, and one of its outcomes differs from the result.

    (For a height loss, the morphometry it could be derived from is absent too.)
    """
    assessment = vertaid.assess(case)

    for entry in assessment["missing"]:
        field = entry["field"]
        assert lookup(case, field) is None, field
        if field.endswith(".height_loss_percent"):
            assert lookup(case, field.replace("height_loss_percent", "morphometry_mm")) is None, field
        assert entry["outcomes"], field
        assert any(
            outcome["decision"] != assessment["decision"]
            or outcome["score"] != assessment["score"]
            or outcome["coverage_met"] != coverage_met(assessment)
            for outcome in entry["outcomes"]
        ), field


def _value_of(when: str, integer: bool) -> tuple[bool, Any]:
    """A value inside what an outcome's ``when`` names: yes/no, a choice, or a numeric region.

    Regions read like ``≤ 30``, ``> 30``, ``= 5`` or ``> 25 and ≤ 30``; (False, None) for ``any value``.
    """
    if when in ("yes", "no"):
        return True, when == "yes"
    if re.fullmatch(r"[a-z_]+", when) and when != "any":
        return True, when
    low: tuple[float, bool] | None = None
    high: tuple[float, bool] | None = None
    for part in when.split(" and "):
        match = re.fullmatch(r"(≤|<|≥|>|=) (-?[0-9.]+)", part)
        if match is None:
            return False, None
        sign, number = match.group(1), float(match.group(2))
        if sign in ("≥", ">", "="):
            low = (number, sign != ">")
        if sign in ("≤", "<", "="):
            high = (number, sign != "<")
    step = 1.0 if integer else 0.5
    if low is not None and high is not None and not integer:
        value = low[0] if low[1] else high[0] if high[1] else (low[0] + high[0]) / 2
    elif low is not None:
        value = low[0] if low[1] else low[0] + step
    else:
        assert high is not None
        value = high[0] if high[1] else high[0] - step
    return True, int(value) if integer else value


@SETTINGS
@given(ANY_CASE)
def test_every_missing_outcome_is_what_assessing_with_that_value_gives(case: dict[str, Any]) -> None:
    """Filling in a missing field with a value its outcome names (yes/no, a choice, a value in a numeric
    region) gives that outcome's result: the shortcuts of the what-if search change nothing."""
    assessment = vertaid.assess(case)

    for entry in assessment["missing"]:
        fact = FACTS[re.sub(r"^fractures\[\d+\]\.", "", entry["field"])]
        for outcome in entry["outcomes"]:
            known, value = _value_of(outcome["when"], fact.integer)
            if not known:
                continue
            filled = copy.deepcopy(case)
            assign(filled, entry["field"], value)
            result = vertaid.assess(filled)
            expected = (outcome["decision"], outcome["score"], outcome["strength"], outcome["coverage_met"])
            actual = (result["decision"], result["score"], result["strength"], coverage_met(result))
            assert expected == actual, (entry["field"], outcome["when"])


def _values_to_try(fact: str) -> list[Any]:
    """Values of an input that reach every region the pack's rules tell apart: yes and no, each choice,
    and for a number its ends and each threshold the rules compare it with, with values either side."""
    spec = FACTS[fact]
    if spec.kind == "bool":
        return [True, False]
    if spec.kind == "choice":
        return list(spec.values)
    pack = default_pack()
    points = {point for rule in rules_in_order(pack) for point, _ in rule.condition.thresholds.get(fact, ())}
    step = 1.0 if spec.integer else 0.25
    low = spec.minimum if spec.minimum is not None else min(points, default=0.0) - 1
    high = spec.maximum if spec.maximum is not None else max(points, default=0.0) + 1
    values = {low, high} | {v for point in points for v in (point - step, point, point + step)}
    return sorted(int(v) if spec.integer else v for v in values if low <= v <= high)


def _unknown_inputs(case: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every input the case leaves unknown, as (JSON path, fact name), read from the case as the policy
    sees it: a finding marked (f) that is absent reads as no, a height loss can come from morphometry."""
    facts = build_facts(parse_case(case), default_pack())
    for fact, spec in FACTS.items():
        if spec.kind == "list" or fact in ("acuity", "is_target"):
            continue
        if "." in fact:
            if spec.getter(facts) is None:
                yield fact, fact
            continue
        for view in facts.fractures:
            if spec.getter(view) is None:
                yield f"fractures[{view.index}].{fact}", fact


@SETTINGS
@given(ANY_CASE)
def test_no_unknown_input_left_out_of_missing_could_change_the_result(case: dict[str, Any]) -> None:
    """An unknown input that ``missing`` does not list changes neither the decision, the score nor
    coverage at any value it could take: the what-if search leaves out only inputs that cannot matter
    (rules settled whatever the value, steps after the deciding one, facts read only at target levels)."""
    assessment = vertaid.assess(case)
    listed = {entry["field"] for entry in assessment["missing"]}
    as_is = (assessment["decision"], assessment["score"], coverage_met(assessment))

    for field, fact in _unknown_inputs(case):
        if field in listed:
            continue
        for value in _values_to_try(fact):
            filled = copy.deepcopy(case)
            assign(filled, field, value)
            result = vertaid.assess(filled)
            assert as_is == (result["decision"], result["score"], coverage_met(result)), (field, value)


@SETTINGS
@given(ANY_CASE)
def test_the_what_if_search_leaves_the_case_view_as_it_found_it(case: dict[str, Any]) -> None:
    """Trying values sets them on the case view and puts them back: nothing of a trial is left behind."""
    pack = default_pack()
    facts = build_facts(parse_case(case), pack)
    truths: dict[str, Any] = {}
    facts.rule_truths = truths
    evaluate_rules(facts, pack, "decision", truths)
    evaluate_rules(facts, pack, "coverage", truths)
    before = _snapshot(facts)

    what_would_change(facts, truths, decide(truths, pack), False, pack)

    assert before == _snapshot(facts)


def _snapshot(facts: Any) -> tuple[Any, ...]:
    """What the rules read of a case view: its sections, truths, targets and each fracture's facts."""
    fractures = tuple(
        (view.fracture, view.acuity, view.height_loss_percent, view.is_target) for view in facts.fractures
    )
    sections = (facts.patient, facts.pain, facts.conservative_care, facts.preferences)
    return sections, facts.rule_truths, tuple(facts.targets), fractures


# -- 9: invalid cases ------------------------------------------------------------------------


REQUIRED: Final = ("patient", "pain", "fractures", "patient.age", "pain.nrs", "fractures[{i}].level")

OUT_OF_RANGE: Final[dict[str, st.SearchStrategy[Any]]] = {
    "patient.age": st.one_of(st.integers(max_value=17), st.integers(min_value=121)),
    "patient.t_score": st.one_of(
        st.floats(max_value=-8.0, exclude_max=True, allow_nan=False, allow_infinity=False),
        st.floats(min_value=4.0, exclude_min=True, allow_nan=False, allow_infinity=False),
    ),
    "patient.asa_class": st.sampled_from((0, 6, -1, 99)),
    "patient.frailty_index": st.sampled_from((-1, 6)),
    "pain.nrs": st.one_of(st.integers(max_value=-1), st.integers(min_value=11)),
    "pain.rdq": st.sampled_from((-1, 25, 100)),
    "conservative_care.weeks": st.one_of(
        st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False),
        st.floats(min_value=520, exclude_min=True, allow_nan=False, allow_infinity=False),
    ),
    "fractures[{i}].onset_weeks": st.sampled_from((-0.5, 520.5, 10_000)),
    "fractures[{i}].height_loss_percent": st.one_of(
        st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False),
        st.floats(min_value=100, exclude_min=True, allow_nan=False, allow_infinity=False),
    ),
    "fractures[{i}].endplates_involved": st.sampled_from((3, -1)),
}

WRONG_TYPE: Final[dict[str, st.SearchStrategy[Any]]] = {
    "patient": st.sampled_from(([], "patient", 78, True)),
    "patient.age": st.sampled_from(("78", True, False, 78.5, [78], {"years": 78})),
    "patient.t_score": st.sampled_from(("-3.2", True, [-3.2])),
    "patient.sex": st.sampled_from((1, True, ["female"])),
    "patient.pregnant": st.sampled_from(("yes", 1, 0, "false")),
    "pain.nrs": st.sampled_from(("7", True, 7.5, "seven")),
    "pain.concordant_with_fracture": st.sampled_from(("true", 1)),
    "conservative_care.weeks": st.sampled_from(("6", False, [6])),
    "fractures": st.sampled_from(({}, "L1", 1)),
    "fractures[{i}]": st.sampled_from(("L1", 1, [], True)),
    "fractures[{i}].mri_edema": st.sampled_from(("yes", 1, "true")),
    "fractures[{i}].height_loss_percent": st.sampled_from(("35", True, {"value": 35})),
    "fractures[{i}].level": st.sampled_from((1, True, ["L1"], {"level": "L1"})),
    "preferences.priorities": st.sampled_from(("posture", 7, {"posture": True})),
}

BAD_LEVELS: Final = st.one_of(
    st.sampled_from(("L9", "L0", "L6", "T13", "T0", "C8", "C0", "S2", "l1", "t12", "L 1", "", "Th12")),
    st.text(max_size=5).filter(lambda text: text not in LEVELS),
)


def _misspelling(name: str) -> st.SearchStrategy[str]:
    """Close misspellings of a member name: a letter doubled, dropped or swapped, or another case."""
    variants = {name + name[-1], name[:-1], name.upper(), name.capitalize(), name.replace("_", "-")}
    if len(name) > 2:
        variants.add(name[0] + name[2] + name[1] + name[3:])
    return st.sampled_from(sorted(variants))


_SECTIONS: Final = ("", "patient", "pain", "conservative_care", "fractures[{i}]", "preferences")


def _fields_of(section: str) -> list[str]:
    record: Any = CASE_SHAPE
    for part in filter(None, section.split(".")):
        shape = record.fields[part.split("[")[0]].shape
        record = getattr(shape, "item", shape)
    return list(record.fields)


@st.composite
def broken_cases(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid case with one thing broken, and the JSON path of what was broken."""
    case = draw(cases())
    index = draw(st.integers(0, len(case["fractures"]) - 1))
    kind = draw(st.sampled_from(("required", "range", "misspelt", "type", "level")))
    if kind == "required":
        path = draw(st.sampled_from(REQUIRED)).format(i=index)
        parent, _, name = path.rpartition(".")
        container = lookup(case, parent) if parent else case
        assert isinstance(container, dict)
        if draw(st.booleans()):
            container.pop(name)
        else:
            container[name] = None
    elif kind in ("range", "type"):
        table = OUT_OF_RANGE if kind == "range" else WRONG_TYPE
        template = draw(st.sampled_from(sorted(table)))
        path = template.format(i=index)
        value = draw(table[template])
        if path == f"fractures[{index}]":
            case["fractures"][index] = value
        else:
            assign(case, path, value)
    elif kind == "misspelt":
        section = draw(st.sampled_from(_SECTIONS))
        known = _fields_of(section)
        misspelt = draw(st.sampled_from(known).flatmap(_misspelling).filter(lambda key: key not in known))
        path = f"{section.format(i=index)}.{misspelt}".lstrip(".")
        assign(case, path, draw(st.one_of(st.none(), st.booleans(), st.integers(0, 5), st.text(max_size=3))))
    else:
        path = f"fractures[{index}].level"
        case["fractures"][index]["level"] = draw(BAD_LEVELS)
    return case, path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_cases())
def test_breaking_a_valid_case_raises_invalid_case_naming_the_path(
    broken: tuple[dict[str, Any], str],
) -> None:
    """A valid case with a member dropped, out of range, misspelt, of the wrong type or an unknown level
    raises ``InvalidCase`` whose problems name the broken member's JSON path."""
    case, path = broken

    try:
        vertaid.assess(case)
    except vertaid.InvalidCase as error:
        paths = [problem_path for problem_path, _ in error.problems]
        assert path in paths, error.problems
        messages: list[Any] = [message for _, message in error.problems]
        assert all(isinstance(message, str) and message.strip() for message in messages)
    else:
        raise AssertionError(f"no InvalidCase for a broken {path}")
