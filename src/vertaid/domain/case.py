"""The case, ``vertaid.case/1``: one patient with one or more vertebral compression fractures.

A member that is absent or null means "unknown". Only the members the contract marks as defaulting
(the yes/no findings marked (f), ``setting``, ``coagulopathy``, ``conservative_care.weeks``) take a
default; everything else stays unknown, so the policy can say which missing facts would change its
decision. The ranges below are the contract's input bounds (CONTRACT §2), not clinical thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from vertaid.domain._shapes import (
    ROOT,
    Boolean,
    BoundedProblems,
    Choice,
    Field,
    Integer,
    ListOf,
    Number,
    Problem,
    Record,
    Text,
    TooManyProblems,
)

__all__ = [
    "CASE_SCHEMA_ID",
    "CASE_SHAPE",
    "LEVELS",
    "Case",
    "ConservativeCare",
    "Fracture",
    "InvalidCase",
    "Morphometry",
    "Pain",
    "Patient",
    "Preferences",
    "parse_case",
]

CASE_SCHEMA_ID: Final = "vertaid.case/1"

LEVELS: Final[tuple[str, ...]] = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
    "S1",
)
"""Every vertebral level a case may name, from the skull down."""

PRIORITIES: Final = ("pain_relief", "posture", "lowest_cost", "lowest_risk", "fast_recovery")
MODALITIES: Final = ("analgesics", "brace", "physical_therapy", "rest", "other")

MAX_PROBLEMS: Final = 100
"""The most problems an invalid case is refused with: checking stops at the next one (a case has
about three hundred members at most; a document with more problems than this is not a mistyped case)."""


class InvalidCase(ValueError):
    """The input is not a valid ``vertaid.case/1``.

    ``problems`` lists every problem found, each a ``(path, message)`` pair such as
    ``("fractures[0].level", "'L9' is not a vertebral level")`` — the same lines the CLI prints.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "; ".join(f"{path}: {message}" for path, message in problems)
        super().__init__(f"invalid case: {lines}")


@dataclass(frozen=True, slots=True)
class Patient:
    """Who the patient is and what they have, as far as it bears on cement augmentation."""

    age: int
    sex: str | None
    setting: str
    t_score: float | None
    activity_level: str | None
    insurance: str | None
    asa_class: int | None
    frailty_index: int | None
    severe_cardiopulmonary_disease: bool
    pulmonary_dysfunction: bool
    anticoagulated: bool
    coagulopathy: str
    active_infection: bool
    osteomyelitis_or_discitis: bool
    cement_allergy: bool
    contrast_allergy: bool
    pregnant: bool
    osteoporosis_treatment: str | None


@dataclass(frozen=True, slots=True)
class Pain:
    """The back pain: how bad (NRS 0–10), where it is going, and how much it disables (RDQ 0–24)."""

    nrs: int
    trend: str | None
    concordant_with_fracture: bool | None
    rdq: int | None
    can_mobilise: bool | None


@dataclass(frozen=True, slots=True)
class ConservativeCare:
    """Non-surgical management so far."""

    weeks: float
    modalities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Morphometry:
    """Six-point morphometry in millimetres, with the posterior height of the nearest normal vertebra."""

    anterior: float
    middle: float
    posterior: float
    reference_posterior: float


@dataclass(frozen=True, slots=True)
class Fracture:
    """One fractured vertebra and what imaging and examination found there."""

    level: str
    cause: str | None
    onset_weeks: float | None
    mri_edema: bool | None
    bone_scan_uptake: bool | None
    height_loss_percent: float | None
    morphometry_mm: Morphometry | None
    height_loss_progressing: bool | None
    kyphotic_deformity: bool | None
    kyphotic_angle_deg: float | None
    endplates_involved: int | None
    posterior_wall: str | None
    tension_band_failure: bool
    retropulsion: bool
    neurological_deficit: bool
    vertebra_plana: bool
    intravertebral_cleft: bool


@dataclass(frozen=True, slots=True)
class Preferences:
    """What matters most to the patient."""

    priorities: tuple[str, ...]
    cost_sensitive: bool


@dataclass(frozen=True, slots=True)
class Case:
    """A whole case, validated."""

    id: str | None
    patient: Patient
    pain: Pain
    conservative_care: ConservativeCare
    fractures: tuple[Fracture, ...]
    preferences: Preferences


def _yes_no(description: str) -> Field:
    """A finding that is ``false`` unless reported (marked (f) in the contract)."""
    return Field(Boolean(description=description), default=False)


def _unknown_bool(description: str) -> Field:
    return Field(Boolean(description=description))


def _build_conservative_care(weeks: float, modalities: list[str] | None) -> ConservativeCare:
    return ConservativeCare(weeks=weeks, modalities=tuple(modalities or ()))


def _build_preferences(priorities: list[str] | None, cost_sensitive: bool) -> Preferences:
    return Preferences(priorities=tuple(priorities or ()), cost_sensitive=cost_sensitive)


def _build_case(
    id: str | None,
    patient: Patient,
    pain: Pain,
    conservative_care: ConservativeCare | None,
    fractures: list[Fracture],
    preferences: Preferences | None,
) -> Case:
    return Case(
        id=id,
        patient=patient,
        pain=pain,
        conservative_care=conservative_care or ConservativeCare(weeks=0.0, modalities=()),
        fractures=tuple(fractures),
        preferences=preferences or Preferences(priorities=(), cost_sensitive=False),
    )


MORPHOMETRY_SHAPE: Final = Record(
    {
        "anterior": Field(Number(0, 100, description="Anterior height Ha, mm"), required=True),
        "middle": Field(Number(0, 100, description="Middle height Hm, mm"), required=True),
        "posterior": Field(Number(0, 100, description="Posterior height Hp, mm"), required=True),
        "reference_posterior": Field(
            Number(
                0,
                100,
                exclusive_minimum=True,
                description="Posterior height of the nearest normal vertebra, mm",
            ),
            required=True,
        ),
    },
    build=Morphometry,
    description="Six-point morphometry (ACR RDES230)",
)

PATIENT_SHAPE: Final = Record(
    {
        "age": Field(Integer(18, 120, description="Age in years"), required=True),
        "sex": Field(Choice(("female", "male", "other", "unknown"))),
        "setting": Field(Choice(("outpatient", "inpatient")), default="outpatient"),
        "t_score": Field(Number(-8.0, 4.0, description="Lowest DXA T-score")),
        "activity_level": Field(Choice(("low", "moderate", "high"))),
        "insurance": Field(Choice(("medicare", "private", "uninsured", "other"))),
        "asa_class": Field(Integer(1, 5, description="ASA physical status class")),
        "frailty_index": Field(Integer(0, 5, description="Modified frailty index mFI-5")),
        "severe_cardiopulmonary_disease": _yes_no("Severe cardiac or pulmonary disease"),
        "pulmonary_dysfunction": _yes_no("Breathing limited by the spinal curve"),
        "anticoagulated": _yes_no("Taking anticoagulants"),
        "coagulopathy": Field(Choice(("none", "corrected", "uncorrected")), default="none"),
        "active_infection": _yes_no("Active systemic or surgical-site infection"),
        "osteomyelitis_or_discitis": _yes_no("Osteomyelitis or discitis"),
        "cement_allergy": _yes_no("Allergy to bone cement"),
        "contrast_allergy": _yes_no("Allergy to contrast or opacification agents"),
        "pregnant": _yes_no("Pregnant"),
        "osteoporosis_treatment": Field(Choice(("none", "referred", "on_treatment"))),
    },
    build=Patient,
)

PAIN_SHAPE: Final = Record(
    {
        "nrs": Field(Integer(0, 10, description="Pain, numeric rating scale 0-10"), required=True),
        "trend": Field(Choice(("improving", "stable", "worsening"))),
        "concordant_with_fracture": _unknown_bool("Exam and imaging put the pain at the fractured level(s)"),
        "rdq": Field(Integer(0, 24, description="Roland-Morris Disability Questionnaire 0-24")),
        "can_mobilise": _unknown_bool("Able to get up and walk under analgesia"),
    },
    build=Pain,
)

CONSERVATIVE_CARE_SHAPE: Final = Record(
    {
        "weeks": Field(Number(0, 520, description="Weeks of non-surgical management so far"), default=0.0),
        "modalities": Field(ListOf(Choice(MODALITIES), distinct=True)),
    },
    build=_build_conservative_care,
)

FRACTURE_SHAPE: Final = Record(
    {
        "level": Field(Choice(LEVELS, noun="a vertebral level"), required=True),
        "cause": Field(Choice(("osteoporotic", "malignant", "traumatic", "unknown"))),
        "onset_weeks": Field(Number(0, 520, description="Weeks since symptom onset")),
        "mri_edema": _unknown_bool("Bone marrow edema on MRI (STIR)"),
        "bone_scan_uptake": _unknown_bool("Uptake on bone scan or SPECT/CT"),
        "height_loss_percent": Field(Number(0, 100, description="Vertebral body height loss, percent")),
        "morphometry_mm": Field(MORPHOMETRY_SHAPE),
        "height_loss_progressing": _unknown_bool("Height loss progressing on follow-up imaging"),
        "kyphotic_deformity": _unknown_bool("Kyphotic deformity"),
        "kyphotic_angle_deg": Field(Number(0, 180, description="Kyphotic angle, degrees (reported only)")),
        "endplates_involved": Field(Choice((0, 1, 2), description="Endplates deformed: 0, 1 or 2")),
        "posterior_wall": Field(Choice(("intact", "minor", "major"))),
        "tension_band_failure": _yes_no("Anterior or posterior tension band failure (AO OF 5)"),
        "retropulsion": _yes_no("Retropulsed fragment"),
        "neurological_deficit": _yes_no("Neurological deficit from the fracture"),
        "vertebra_plana": _yes_no("Vertebra plana"),
        "intravertebral_cleft": _yes_no("Intravertebral cleft (fluid or air)"),
    },
    build=Fracture,
)

PREFERENCES_SHAPE: Final = Record(
    {
        "priorities": Field(ListOf(Choice(PRIORITIES), distinct=True)),
        "cost_sensitive": _yes_no("Cost weighs heavily for the patient"),
    },
    build=_build_preferences,
)

CASE_SHAPE: Final = Record(
    {
        "id": Field(Text(max_length=200, description="The caller's identifier for the case")),
        "patient": Field(PATIENT_SHAPE, required=True),
        "pain": Field(PAIN_SHAPE, required=True),
        "conservative_care": Field(CONSERVATIVE_CARE_SHAPE),
        "fractures": Field(ListOf(FRACTURE_SHAPE, min_items=1, max_items=17), required=True),
        "preferences": Field(PREFERENCES_SHAPE),
    },
    build=_build_case,
    description="A vertebral compression fracture case (vertaid.case/1)",
)


def parse_case(raw: object) -> Case:
    """Check ``raw`` against ``vertaid.case/1`` and return the case.

    Raises:
        InvalidCase: with every problem found, each naming its JSON path (past ``MAX_PROBLEMS``, the
            first ones and a last one at ``$`` saying there were more).
    """
    problems = BoundedProblems(MAX_PROBLEMS)
    try:
        case = CASE_SHAPE.check(raw, ROOT, problems)
        # Checked on the raw input so that a repeated level is reported beside any other problem.
        _check_distinct_levels(raw, problems)
    except TooManyProblems:
        stopped = (ROOT, f"has more than {MAX_PROBLEMS} problems: only the first {MAX_PROBLEMS} are listed")
        raise InvalidCase([*problems, stopped]) from None
    if problems or not isinstance(case, Case):
        raise InvalidCase(list(problems) or [(ROOT, "is not a valid case")])
    return case


def _check_distinct_levels(raw: object, problems: list[Problem]) -> None:
    fractures = raw.get("fractures") if isinstance(raw, dict) else None
    if not isinstance(fractures, list):
        return
    first_index: dict[str, int] = {}
    for index, fracture in enumerate(fractures):
        level = fracture.get("level") if isinstance(fracture, dict) else None
        if not isinstance(level, str) or level not in LEVELS:
            continue
        first = first_index.setdefault(level, index)
        if first != index:
            problems.append(
                (f"fractures[{index}].level", f"{level!r} is listed twice (also fractures[{first}])")
            )
