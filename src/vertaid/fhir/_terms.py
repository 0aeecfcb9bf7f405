"""The FHIR terms vertaid reads and writes, and which member of the case each one fills.

Everything the adapter knows about codes is in this module, as data: the reader (``_read``), the writer
(``_write``) and the published table (``docs/fhir-mapping.md``, made by :func:`mapping_rows`) all take
their codes from here, so they cannot drift apart. Clinical policy is not here: these tables only say
where in a FHIR resource a fact of the case is written, never what the fact means for the decision.

Standard codes are used where one exists and its meaning is confirmed (SNOMED CT, LOINC, ICD-10-CM,
ATC, RxNorm, HL7 terminology). Where none exists the code is vertaid's own, in one code system,
:data:`VERTAID`, whose every code is listed in :data:`VERTAID_CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from vertaid.domain.case import LEVELS

__all__ = [
    "ALLERGIES",
    "ATC",
    "CARE",
    "CONDITIONS",
    "COVERAGE_TYPES",
    "ENCOUNTER_CLASSES",
    "FRACTURE_CODES",
    "ICD10CM",
    "LOINC",
    "MEDICATIONS",
    "OBSERVATIONS",
    "REFERRALS",
    "SNOMED",
    "VERTAID",
    "VERTAID_CODES",
    "VERTEBRAE",
    "AllergyMapping",
    "CareMapping",
    "Code",
    "ConditionMapping",
    "MedicationMapping",
    "ObservationMapping",
    "ReferralMapping",
    "Row",
    "mapping_rows",
]

# -- code systems --------------------------------------------------------------------------------

SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
ATC: Final = "http://www.whocc.no/atc"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM: Final = "http://unitsofmeasure.org"
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SOPT: Final = "https://nahdo.org/sopt"
"""Source of Payment Typology (PHDSC), the US payer-type codes FHIR's Coverage.type uses."""
COVERAGE_SELFPAY: Final = "http://terminology.hl7.org/CodeSystem/coverage-selfpay"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"

VERTAID: Final = "https://vertaid.org/fhir/CodeSystem/vertaid"
"""vertaid's own code system: the one canonical URL for every code no standard system has."""

SYSTEM_ALIASES: Final = {"urn:oid:2.16.840.1.113883.3.221.5": SOPT}
"""Other names of a system in use (SOPT is also written by its OID)."""

SYSTEM_NAMES: Final = {
    SNOMED: "SNOMED CT",
    LOINC: "LOINC",
    ICD10CM: "ICD-10-CM",
    ATC: "ATC",
    RXNORM: "RxNorm",
    UCUM: "UCUM",
    V3_ACT_CODE: "HL7 v3 ActCode",
    SOPT: "SOPT",
    COVERAGE_SELFPAY: "HL7 coverage-selfpay",
    VERTAID: "vertaid",
}


@dataclass(frozen=True)
class Code:
    """A code in a system; ``prefix`` codes also match every code under them (ICD-10-CM, ATC, SOPT)."""

    system: str
    code: str
    display: str
    prefix: bool = False
    checked: bool = True
    """Read in the code system's own publication (or the project's reference). ``False``: named from
    knowledge of the code system, still to be checked there; the published table marks it."""

    def matches(self, system: str | None, code: str | None) -> bool:
        """Whether a coding (``system``, ``code``) is this code or, for a prefix, one under it."""
        if system is None or code is None or SYSTEM_ALIASES.get(system, system) != self.system:
            return False
        mine, theirs = _normal(self.system, self.code), _normal(self.system, code)
        return theirs.startswith(mine) if self.prefix else theirs == mine

    def written(self) -> str:
        """How the code is shown in the published table (``M80.08-`` for a prefix)."""
        return f"{self.code}-" if self.prefix else self.code


def _normal(system: str, code: str) -> str:
    """ICD-10-CM codes are compared without their dot (``M80.08XA`` = ``M8008XA``), ATC without case."""
    if system == ICD10CM:
        return code.replace(".", "").upper()
    if system == ATC:
        return code.upper()
    return code


def _vertaid(code: str, display: str) -> Code:
    return Code(VERTAID, code, display)


# -- vertaid's own codes ---------------------------------------------------------------------------

VERTAID_CODES: Final[dict[str, str]] = {}
"""Every code of the vertaid code system, with its display (filled as the codes are defined below)."""


def _own(code: str, display: str) -> Code:
    assert code not in VERTAID_CODES, f"vertaid code {code} is defined twice"
    VERTAID_CODES[code] = display
    return _vertaid(code, display)


# -- vertebrae -------------------------------------------------------------------------------------

_VERTEBRA_SNOMED: Final = {
    # DICOM CID 7603 "Vertebra" (SNOMED CT "Bone structure of ...").
    "C1": "14806007",
    "C2": "39976000",
    "C3": "113205007",
    "C4": "5329002",
    "C5": "36978003",
    "C6": "36054005",
    "C7": "87391001",
    "T1": "64864005",
    "T2": "53733008",
    "T3": "1626008",
    "T4": "73071006",
    "T5": "56401006",
    "T6": "45296009",
    "T7": "62487009",
    "T8": "11068009",
    "T9": "82687006",
    "T10": "7610001",
    "T11": "12989004",
    "T12": "23215003",
    "L1": "66794005",
    "L2": "14293000",
    "L3": "36470004",
    "L4": "11994002",
    "L5": "49668003",
}

VERTEBRAE: Final[dict[str, Code]] = {
    **{level: Code(SNOMED, code, f"Bone structure of {level}") for level, code in _VERTEBRA_SNOMED.items()},
    # CID 7603 stops at L5; the case model also names S1.
    "S1": _own("vertebra-s1", "First sacral vertebra (S1)"),
}
"""The body-site code of each vertebral level the case model names (Condition and Observation bodySite)."""

assert tuple(VERTEBRAE) == LEVELS, "every level of the case model has exactly one body-site code"

# -- the fracture ----------------------------------------------------------------------------------

FRACTURE_CODES: Final[tuple[tuple[Code, str | None], ...]] = (
    # A Condition with one of these codes is a vertebral fracture; the second member is the cause the
    # code states (None: the code does not say).
    (Code(SNOMED, "42942008", "Compression fracture of vertebral column"), None),
    (
        Code(
            ICD10CM,
            "M80.08",
            "Age-related osteoporosis with current pathological fracture, vertebra(e)",
            prefix=True,
        ),
        "osteoporotic",
    ),
    (
        Code(ICD10CM, "M80.88", "Other osteoporosis with current pathological fracture, vertebra(e)", True),
        "osteoporotic",
    ),
    # M48.5- excludes osteoporotic, neoplastic and traumatic fractures but names no cause of its own.
    (Code(ICD10CM, "M48.5", "Collapsed vertebra, not elsewhere classified", prefix=True), None),
    (Code(ICD10CM, "S12.0", "Fracture of first cervical vertebra", prefix=True, checked=False), "traumatic"),
    (Code(ICD10CM, "S12.1", "Fracture of second cervical vertebra", prefix=True, checked=False), "traumatic"),
    (Code(ICD10CM, "S12.2", "Fracture of third cervical vertebra", prefix=True, checked=False), "traumatic"),
    (Code(ICD10CM, "S12.3", "Fracture of fourth cervical vertebra", prefix=True, checked=False), "traumatic"),
    (Code(ICD10CM, "S12.4", "Fracture of fifth cervical vertebra", prefix=True, checked=False), "traumatic"),
    (Code(ICD10CM, "S12.5", "Fracture of sixth cervical vertebra", prefix=True, checked=False), "traumatic"),
    (
        Code(ICD10CM, "S12.6", "Fracture of seventh cervical vertebra", prefix=True, checked=False),
        "traumatic",
    ),
    (Code(ICD10CM, "S22.0", "Fracture of thoracic vertebra", prefix=True), "traumatic"),
    (Code(ICD10CM, "S32.0", "Fracture of lumbar vertebra", prefix=True), "traumatic"),
    # No standard code states every cause the case model knows: vertaid's pre-coordinated ones do.
    (_own("osteoporotic-vertebral-fracture", "Osteoporotic vertebral compression fracture"), "osteoporotic"),
    (_own("malignant-vertebral-fracture", "Vertebral compression fracture due to malignancy"), "malignant"),
    (_own("traumatic-vertebral-fracture", "Traumatic vertebral fracture"), "traumatic"),
    (
        _own("vertebral-fracture-cause-unknown", "Vertebral compression fracture, cause not determined"),
        "unknown",
    ),
)
"""The Condition codes of a vertebral fracture, each with the cause it states."""

FRACTURE_CODE: Final = FRACTURE_CODES[0][0]
"""The code the writer gives every fracture Condition (SNOMED CT 42942008)."""

# -- Observations ----------------------------------------------------------------------------------

ValueKind = Literal["integer", "decimal", "boolean", "code", "morphometry", "priorities"]


@dataclass(frozen=True)
class ObservationMapping:
    """An Observation code and the case member its value fills.

    ``field`` is the case path; ``fractures[].x`` is a member of the fracture the Observation names
    (by ``bodySite`` or by ``focus`` on the fracture Condition). ``units`` are the UCUM codes accepted
    for a Quantity (the first is written; an Observation may also leave the unit out). ``answers`` map a
    valueCodeableConcept's codes to case values (None: the answer says "unknown").
    ``rule`` is how several Observations of the field make one value: ``latest`` (the latest
    effective time wins) or ``lowest`` (the lowest of each code's latest, for the lowest T-score).
    """

    field: str
    codes: tuple[Code, ...]
    kind: ValueKind
    units: tuple[str, ...] = ()
    answers: tuple[tuple[Code, object], ...] = ()
    rule: Literal["latest", "lowest"] = "latest"
    written: Code | None = None
    """The code the writer uses, when it is not the first."""

    @property
    def per_vertebra(self) -> bool:
        """Whether the value belongs to one fractured vertebra."""
        return self.field.startswith("fractures[].")

    @property
    def element(self) -> str:
        """The Observation element that holds the value."""
        return {
            "integer": "valueInteger",
            "decimal": "valueQuantity",
            "boolean": "valueBoolean",
            "code": "valueCodeableConcept",
            "morphometry": "component.valueQuantity",
            "priorities": "component.valueCodeableConcept",
        }[self.kind]


def _answers(prefix: str, values: tuple[str, ...], noun: str) -> tuple[tuple[Code, object], ...]:
    return tuple(
        (_own(f"{prefix}-{value.replace('_', '-')}", f"{noun}: {value.replace('_', ' ')}"), value)
        for value in values
    )


MORPHOMETRY_CODE: Final = _own("vertebral-morphometry", "Six-point vertebral morphometry, mm")
MORPHOMETRY_PARTS: Final[tuple[tuple[str, Code], ...]] = (
    ("anterior", _own("anterior-height", "Anterior vertebral body height (Ha)")),
    ("middle", _own("middle-height", "Middle vertebral body height (Hm)")),
    ("posterior", _own("posterior-height", "Posterior vertebral body height (Hp)")),
    (
        "reference_posterior",
        _own("reference-posterior-height", "Posterior height of nearest normal vertebra"),
    ),
)
"""The components of a morphometry Observation: one valueQuantity in mm each, all four required."""

PRIORITIES_CODE: Final = _own("treatment-priorities", "What matters most to the patient about treatment")
PRIORITY_PART: Final = _own("treatment-priority", "One treatment priority")
PRIORITY_ANSWERS: Final = _answers(
    "priority", ("pain_relief", "posture", "lowest_cost", "lowest_risk", "fast_recovery"), "Priority"
)

_YES_NO: Final = "boolean"
LOWEST_T_SCORE: Final = _own("lowest-dxa-t-score", "Lowest DXA T-score of the sites measured")
PREGNANT: Final = Code(SNOMED, "77386006", "Pregnant")
NOT_PREGNANT: Final = Code(SNOMED, "60001007", "Not pregnant")

OBSERVATIONS: Final[tuple[ObservationMapping, ...]] = (
    ObservationMapping(
        "patient.t_score",
        (
            Code(LOINC, "38267-1", "DXA Lumbar spine [T-score] Bone density"),
            Code(LOINC, "38263-0", "DXA Femur [T-score] Bone density"),
            Code(LOINC, "38264-8", "DXA Hip [T-score] Bone density"),
            LOWEST_T_SCORE,
        ),
        "decimal",
        units=("{T-score}",),
        rule="lowest",
        # The case holds the lowest T-score without its site: written under vertaid's code, so that no
        # site is claimed that the case does not record.
        written=LOWEST_T_SCORE,
    ),
    ObservationMapping(
        "patient.activity_level",
        (_own("activity-level", "Usual physical activity level"),),
        "code",
        answers=_answers("activity", ("low", "moderate", "high"), "Activity level"),
    ),
    ObservationMapping(
        "patient.asa_class", (_own("asa-class", "ASA physical status class (1-5)"),), "integer"
    ),
    ObservationMapping(
        "patient.frailty_index",
        (_own("frailty-index-mfi5", "Modified frailty index mFI-5 (0-5)"),),
        "integer",
    ),
    ObservationMapping(
        "patient.pregnant",
        (Code(LOINC, "82810-3", "Pregnancy status"),),
        "code",
        answers=(
            (PREGNANT, True),
            (Code(LOINC, "LA15173-0", "Pregnant"), True),
            (NOT_PREGNANT, False),
            (Code(LOINC, "LA26683-5", "Not pregnant"), False),
            (Code(SNOMED, "261665006", "Unknown"), None),
            (Code(LOINC, "LA4489-6", "Unknown"), None),
        ),
    ),
    ObservationMapping(
        "pain.nrs",
        (Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),),
        "integer",
        units=("{score}",),
    ),
    ObservationMapping(
        "pain.trend",
        (_own("pain-trend", "Course of the back pain"),),
        "code",
        answers=_answers("pain", ("improving", "stable", "worsening"), "Pain"),
    ),
    ObservationMapping(
        "pain.concordant_with_fracture",
        (_own("pain-concordant-with-fracture", "Exam and imaging put the pain at the fractured level(s)"),),
        _YES_NO,
    ),
    ObservationMapping(
        "pain.rdq",
        (_own("roland-morris-score", "Roland-Morris Disability Questionnaire score (0-24)"),),
        "integer",
        units=("{score}",),
    ),
    ObservationMapping(
        "pain.can_mobilise",
        (_own("can-mobilise", "Able to get up and walk under analgesia"),),
        _YES_NO,
    ),
    ObservationMapping(
        "fractures[].mri_edema",
        (_own("mri-bone-marrow-edema", "Bone marrow edema on MRI (STIR)"),),
        _YES_NO,
    ),
    ObservationMapping(
        "fractures[].bone_scan_uptake",
        (_own("bone-scan-uptake", "Uptake on bone scan or SPECT/CT"),),
        _YES_NO,
    ),
    ObservationMapping(
        "fractures[].height_loss_percent",
        (_own("vertebral-height-loss", "Vertebral body height loss, percent"),),
        "decimal",
        units=("%",),
    ),
    ObservationMapping("fractures[].morphometry_mm", (MORPHOMETRY_CODE,), "morphometry", units=("mm",)),
    ObservationMapping(
        "fractures[].height_loss_progressing",
        (_own("height-loss-progressing", "Height loss progressing on follow-up imaging"),),
        _YES_NO,
    ),
    ObservationMapping(
        "fractures[].kyphotic_deformity", (_own("kyphotic-deformity", "Kyphotic deformity"),), _YES_NO
    ),
    ObservationMapping(
        "fractures[].kyphotic_angle_deg",
        (_own("kyphotic-angle", "Kyphotic angle, degrees"),),
        "decimal",
        units=("deg",),
    ),
    ObservationMapping(
        "fractures[].endplates_involved",
        (_own("endplates-involved", "Number of endplates deformed (0-2)"),),
        "integer",
    ),
    ObservationMapping(
        "fractures[].posterior_wall",
        (_own("posterior-wall", "Posterior wall of the vertebral body"),),
        "code",
        answers=_answers("posterior-wall", ("intact", "minor", "major"), "Posterior wall"),
    ),
    ObservationMapping(
        "fractures[].tension_band_failure",
        (_own("tension-band-failure", "Anterior or posterior tension band failure"),),
        _YES_NO,
    ),
    ObservationMapping("fractures[].retropulsion", (_own("retropulsion", "Retropulsed fragment"),), _YES_NO),
    ObservationMapping(
        "fractures[].neurological_deficit",
        (_own("neurological-deficit", "Neurological deficit from the fracture"),),
        _YES_NO,
    ),
    ObservationMapping("fractures[].vertebra_plana", (_own("vertebra-plana", "Vertebra plana"),), _YES_NO),
    ObservationMapping(
        "fractures[].intravertebral_cleft",
        (_own("intravertebral-cleft", "Intravertebral cleft (fluid or air)"),),
        _YES_NO,
    ),
    ObservationMapping("preferences.priorities", (PRIORITIES_CODE,), "priorities"),
    ObservationMapping(
        "preferences.cost_sensitive",
        (_own("cost-sensitive", "Cost weighs heavily for the patient"),),
        _YES_NO,
    ),
)
"""Every Observation vertaid reads, one per case member."""

# -- Conditions other than the fracture -------------------------------------------------------------


@dataclass(frozen=True)
class ConditionMapping:
    """A diagnosis (Condition.code) and the case value it gives: ``active`` while its clinicalStatus is
    active, recurrence or relapse, ``inactive`` (None: nothing) once it is inactive, in remission or
    resolved. Several such Conditions give the active value if any is active."""

    field: str
    codes: tuple[Code, ...]
    active: object = True
    inactive: object = None
    written: bool = True
    """Whether the writer writes this Condition (pregnancy is written as its Observation instead)."""


CONDITIONS: Final[tuple[ConditionMapping, ...]] = (
    ConditionMapping(
        "patient.severe_cardiopulmonary_disease",
        (_own("severe-cardiopulmonary-disease", "Severe cardiac or pulmonary disease"),),
    ),
    ConditionMapping(
        "patient.pulmonary_dysfunction",
        (_own("pulmonary-dysfunction", "Breathing limited by the spinal curve"),),
    ),
    ConditionMapping(
        "patient.coagulopathy",
        (
            _own("coagulopathy", "Coagulopathy"),
            Code(ICD10CM, "D65", "Disseminated intravascular coagulation", prefix=True, checked=False),
            Code(ICD10CM, "D66", "Hereditary factor VIII deficiency", prefix=True, checked=False),
            Code(ICD10CM, "D67", "Hereditary factor IX deficiency", prefix=True, checked=False),
            Code(ICD10CM, "D68", "Other coagulation defects", prefix=True, checked=False),
        ),
        active="uncorrected",
        inactive="corrected",
    ),
    ConditionMapping(
        "patient.active_infection",
        (
            _own("active-infection", "Active systemic or surgical-site infection"),
            Code(ICD10CM, "A40", "Streptococcal sepsis", prefix=True, checked=False),
            Code(ICD10CM, "A41", "Other sepsis", prefix=True, checked=False),
        ),
    ),
    ConditionMapping(
        "patient.osteomyelitis_or_discitis",
        (
            _own("osteomyelitis-or-discitis", "Osteomyelitis or discitis"),
            Code(ICD10CM, "M46.2", "Osteomyelitis of vertebra", prefix=True),
            Code(ICD10CM, "M46.3", "Infection of intervertebral disc (pyogenic)", prefix=True),
            Code(ICD10CM, "M46.4", "Discitis, unspecified", prefix=True),
        ),
    ),
    ConditionMapping(
        "patient.pregnant",
        (PREGNANT, Code(ICD10CM, "Z33.1", "Pregnant state, incidental", checked=False)),
        written=False,
    ),
)
"""Diagnoses other than the fracture that fill a member of the case."""

# -- allergies, medicines, referrals, conservative care ----------------------------------------------


@dataclass(frozen=True)
class AllergyMapping:
    """An AllergyIntolerance.code that sets a yes/no member while the allergy is active."""

    field: str
    codes: tuple[Code, ...]


ALLERGIES: Final[tuple[AllergyMapping, ...]] = (
    AllergyMapping("patient.cement_allergy", (_own("bone-cement", "Bone cement (PMMA)"),)),
    AllergyMapping("patient.contrast_allergy", (_own("contrast-media", "Contrast or opacification agents"),)),
)


@dataclass(frozen=True)
class MedicationMapping:
    """Medicines (MedicationStatement / MedicationRequest medication[x], or the Medication it refers to)
    and the value they give: ``taking`` while the statement or order is active or on hold,
    ``not_taken`` for a MedicationStatement whose status is not-taken (None: nothing)."""

    field: str
    codes: tuple[Code, ...]
    taking: object
    not_taken: object = None


MEDICATIONS: Final[tuple[MedicationMapping, ...]] = (
    MedicationMapping(
        "patient.anticoagulated",
        (
            _own("anticoagulant", "Anticoagulant (any)"),
            Code(ATC, "B01AA", "Vitamin K antagonists", prefix=True),
            Code(ATC, "B01AB", "Heparin group", prefix=True),
            Code(ATC, "B01AE", "Direct thrombin inhibitors", prefix=True, checked=False),
            Code(ATC, "B01AF", "Direct factor Xa inhibitors", prefix=True, checked=False),
        ),
        taking=True,
    ),
    MedicationMapping(
        "patient.osteoporosis_treatment",
        (
            _own("osteoporosis-drug", "Osteoporosis drug (any)"),
            Code(ATC, "M05BA", "Bisphosphonates", prefix=True),
            Code(ATC, "M05BB", "Bisphosphonates, combinations", prefix=True),
            Code(ATC, "M05BX04", "Denosumab", checked=False),
            Code(ATC, "M05BX06", "Romosozumab"),
            Code(ATC, "H05AA02", "Teriparatide", checked=False),
            Code(ATC, "G03XC01", "Raloxifene", checked=False),
            Code(RXNORM, "46041", "alendronate"),
            Code(RXNORM, "77655", "zoledronic acid"),
        ),
        taking="on_treatment",
        not_taken="none",
    ),
)


@dataclass(frozen=True)
class ReferralMapping:
    """A ServiceRequest (active, on hold or completed) that gives a case value."""

    field: str
    codes: tuple[Code, ...]
    value: object


REFERRALS: Final[tuple[ReferralMapping, ...]] = (
    ReferralMapping(
        "patient.osteoporosis_treatment",
        (_own("osteoporosis-care-referral", "Referral for bone density testing and osteoporosis care"),),
        "referred",
    ),
)

TREATMENT_PRECEDENCE: Final = ("on_treatment", "referred", "none")
"""osteoporosis_treatment from several resources: a drug being taken outranks a referral, which
outranks a statement that no osteoporosis drug is taken."""


@dataclass(frozen=True)
class CareMapping:
    """A Procedure (or completed ServiceRequest) of non-surgical care, and its modality (None: the care
    as a whole, no modality named)."""

    modality: str | None
    code: Code


CARE: Final[tuple[CareMapping, ...]] = (
    CareMapping(None, _own("conservative-care", "Non-surgical management of the fracture")),
    *(
        CareMapping(
            modality, _own(f"conservative-care-{modality.replace('_', '-')}", f"Non-surgical care: {text}")
        )
        for modality, text in (
            ("analgesics", "analgesics"),
            ("brace", "brace"),
            ("physical_therapy", "physical therapy"),
            ("rest", "rest"),
            ("other", "other"),
        )
    ),
)

# -- encounter and coverage ---------------------------------------------------------------------------

ENCOUNTER_CLASSES: Final[tuple[tuple[Code, str], ...]] = (
    (Code(V3_ACT_CODE, "IMP", "inpatient encounter"), "inpatient"),
    (Code(V3_ACT_CODE, "ACUTE", "inpatient acute"), "inpatient"),
    (Code(V3_ACT_CODE, "NONAC", "inpatient non-acute"), "inpatient"),
    (Code(V3_ACT_CODE, "AMB", "ambulatory"), "outpatient"),
    (Code(V3_ACT_CODE, "EMER", "emergency"), "outpatient"),
    (Code(V3_ACT_CODE, "OBSENC", "observation encounter"), "outpatient"),
    (Code(V3_ACT_CODE, "PRENC", "pre-admission"), "outpatient"),
    (Code(V3_ACT_CODE, "SS", "short stay"), "outpatient"),
    (Code(V3_ACT_CODE, "VR", "virtual"), "outpatient"),
    (Code(V3_ACT_CODE, "HH", "home health"), "outpatient"),
    (Code(V3_ACT_CODE, "FLD", "field"), "outpatient"),
)
"""Encounter.class of a current encounter (in progress, arrived, triaged, on leave) and the setting."""

COVERAGE_TYPES: Final[tuple[tuple[Code, str], ...]] = (
    (Code(SOPT, "1", "Medicare", prefix=True), "medicare"),
    (Code(SOPT, "5", "Private health insurance", prefix=True), "private"),
    (Code(SOPT, "6", "Blue Cross/Blue Shield", prefix=True, checked=False), "private"),
    (Code(SOPT, "81", "Self-pay"), "uninsured"),
    (Code(COVERAGE_SELFPAY, "pay", "Pay"), "uninsured"),
    (Code(SOPT, "9", "Miscellaneous/other", prefix=True, checked=False), "other"),
    (Code(SOPT, "2", "Medicaid", prefix=True, checked=False), "other"),
    (Code(SOPT, "3", "Other government", prefix=True, checked=False), "other"),
    (Code(SOPT, "4", "Department of corrections", prefix=True, checked=False), "other"),
    (Code(SOPT, "7", "Managed care, unspecified", prefix=True, checked=False), "other"),
    (Code(SOPT, "8", "No payment from an organization", prefix=True, checked=False), "other"),
)
"""Coverage.type of an active Coverage and the insurance it is (the first match counts: 81 before 8)."""

INSURANCE_WRITTEN: Final = {"medicare": "1", "private": "5", "uninsured": "81", "other": "9"}
"""The SOPT code the writer gives each kind of insurance."""


# -- the published table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of docs/fhir-mapping.md."""

    field: str
    resource: str
    element: str
    codes: tuple[Code, ...]
    note: str = ""


def mapping_rows() -> list[Row]:
    """The whole mapping, case member by case member, as the reader applies it."""
    rows = [
        Row("id", "Bundle", "identifier.value", ()),
        Row("patient.age", "Patient", "birthDate", (), "whole years at the reference date"),
        Row("patient.sex", "Patient", "gender", (), "female, male, other, unknown"),
        Row(
            "patient.setting",
            "Encounter",
            "class (current encounters)",
            tuple(code for code, _ in ENCOUNTER_CLASSES),
            "IMP, ACUTE, NONAC: inpatient; the others: outpatient",
        ),
        Row(
            "patient.insurance",
            "Coverage",
            "type (active coverage)",
            tuple(code for code, _ in COVERAGE_TYPES),
            "1-: medicare; 5-, 6-: private; 81, pay: uninsured; others: other",
        ),
    ]
    for medication in MEDICATIONS:
        note = f"active or on hold: {_shown(medication.taking)}"
        if medication.not_taken is not None:
            note += f"; MedicationStatement not-taken: {_shown(medication.not_taken)}"
        rows.append(
            Row(
                medication.field,
                "MedicationStatement, MedicationRequest",
                "medication[x] (or the Medication's code)",
                medication.codes,
                note,
            )
        )
    rows.extend(
        Row(
            referral.field,
            "ServiceRequest",
            "code",
            referral.codes,
            f"active, on hold or completed: {referral.value}",
        )
        for referral in REFERRALS
    )
    for condition in CONDITIONS:
        note = f"clinicalStatus active: {_shown(condition.active)}"
        if condition.inactive is not None:
            note += f"; inactive, remission or resolved: {_shown(condition.inactive)}"
        if not condition.written:
            note += "; the writer writes the Observation instead"
        rows.append(Row(condition.field, "Condition", "code", condition.codes, note))
    rows.extend(
        Row(allergy.field, "AllergyIntolerance", "code", allergy.codes, "clinicalStatus active: true")
        for allergy in ALLERGIES
    )
    for mapping in OBSERVATIONS:
        if mapping.per_vertebra:
            continue
        rows.append(_observation_row(mapping))
    rows.append(
        Row(
            "conservative_care.weeks",
            "Procedure, ServiceRequest (completed)",
            "performed[x] / occurrence[x]",
            tuple(care.code for care in CARE),
            "from the earliest start to the latest end (the reference date while any is in progress)",
        )
    )
    rows.append(
        Row(
            "conservative_care.modalities",
            "Procedure, ServiceRequest (completed)",
            "code",
            tuple(care.code for care in CARE if care.modality is not None),
        )
    )
    rows.append(Row("fractures[]", "Condition", "code", tuple(code for code, _ in FRACTURE_CODES)))
    rows.append(
        Row(
            "fractures[].level",
            "Condition",
            "bodySite",
            tuple(VERTEBRAE.values()),
            "one fracture per vertebra",
        )
    )
    rows.append(
        Row(
            "fractures[].cause",
            "Condition",
            "code",
            tuple(code for code, cause in FRACTURE_CODES if cause is not None),
            "M80.08-, M80.88-: osteoporotic; S12.0- to S32.0-: traumatic; vertaid codes as named",
        )
    )
    rows.append(
        Row("fractures[].onset_weeks", "Condition", "onset[x]", (), "weeks before the reference date")
    )
    rows.extend(_observation_row(mapping) for mapping in OBSERVATIONS if mapping.per_vertebra)
    return rows


def _observation_row(mapping: ObservationMapping) -> Row:
    notes = []
    if mapping.kind == "code":
        notes.append(
            "; ".join(
                f"{code.code}: {'unknown (left missing)' if value is None else _shown(value)}"
                for code, value in mapping.answers
            )
        )
    elif mapping.kind == "morphometry":
        notes.append(
            "components " + ", ".join(f"{code.code} ({member})" for member, code in MORPHOMETRY_PARTS)
        )
    elif mapping.kind == "priorities":
        notes.append(f"one component {PRIORITY_PART.code} per priority, in order (priority-...)")
    if mapping.units:
        notes.append(f"unit {', '.join(mapping.units)} (or none)")
    if mapping.rule == "lowest":
        notes.append("the lowest of each code's latest")
    if mapping.written is not None:
        notes.append(f"written as {mapping.written.code}")
    if mapping.per_vertebra:
        notes.append("bodySite or focus names the vertebra")
    return Row(mapping.field, "Observation", mapping.element, mapping.codes, "; ".join(notes))


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
