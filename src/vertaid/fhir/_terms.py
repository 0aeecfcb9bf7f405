"""The FHIR terms vertaid reads and writes, and which member of the case each one fills.

Everything the adapter knows about codes is in this module, as data: the reader (``_read``), the writer
(``_write``) and the published table (``docs/fhir-mapping.md``, made by :func:`mapping_rows`) all take
their codes from here, so they cannot drift apart. Clinical policy is not here: these tables only say
where in a FHIR resource a fact of the case is written, never what the fact means for the decision.

Standard codes are used where one exists (SNOMED CT, LOINC, ICD-10-CM, ATC, RxNorm, SOPT, HL7
terminology); each names the publication it was read in (:data:`SOURCES`), and its display is that
publication's wording. Where none exists the code is vertaid's own, in one code system, :data:`VERTAID`,
whose every code is listed in :data:`VERTAID_CODES`.
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
    "SOURCES",
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
    "Source",
    "Standing",
    "mapping_rows",
    "standard_codes",
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


Standing = Literal["primary", "corroborated", "secondary"]
"""How far a source can be trusted for a code: ``primary`` is the code system's own publication (or a
verbatim copy of it); ``corroborated``, independent copies that agree, as the project's reference
records them; ``secondary``, a coding page or a copy of unknown faithfulness only."""


@dataclass(frozen=True)
class Source:
    """A publication standard codes were read in."""

    title: str
    where: str
    """Where it was read: an address, or a repository and path (with the package that ships a file)."""
    standing: Standing


SOURCES: Final[dict[str, Source]] = {
    "cdc-icd10cm-2026": Source(
        "ICD-10-CM Tabular List of Diseases and Injuries, FY2026 (April 1, 2026 update), CDC/NCHS",
        "icd10c-tabular-April-1-2026.xml, the CDC's file as shipped in the PyPI package simple-icd-10-cm "
        "1.5.0 (simple_icd_10_cm/data/); published at https://www.cdc.gov/nchs/icd/icd-10-cm/files.html",
        "primary",
    ),
    "who-atc-2026": Source(
        "ATC/DDD Index, WHO Collaborating Centre for Drug Statistics Methodology",
        "the whole index as copied from the Centre's site on 2026-04-25: GitHub fabkury/atcd, "
        "'WHO ATC-DDD 2026-04-25.csv'; levels B01A and M05BA also on https://www.whocc.no/atc_ddd_index/",
        "primary",
    ),
    "phdsc-sopt-9.2": Source(
        "Source of Payment Typology 9.2 (PHDSC; https://nahdo.org/sopt), expansion 20240502 of the NLM "
        "VSAC value set Payer Type 2.16.840.1.114222.4.11.3591",
        "GitHub cqframework/ecqm-content-qicore-2024, "
        "input/vocabulary/valueset/external/valueset-2.16.840.1.114222.4.11.3591.json",
        "primary",
    ),
    "hl7-coverage-selfpay": Source(
        "HL7 Terminology CodeSystem coverage-selfpay",
        "GitHub HL7/UTG, input/sourceOfTruth/fhir/codeSystems/CodeSystem-coverage-selfpay.xml",
        "primary",
    ),
    "hl7-act-encounter-code": Source(
        "HL7 Terminology ValueSet v3-ActEncounterCode (codes of CodeSystem v3-ActCode), package "
        "hl7.fhir.r5.core 5.0.0",
        "the package's listing in GitHub GinoCanessa/fhir-cross-version-source, "
        "docs/R5/ValueSets/ActEncounterCode.md",
        "primary",
    ),
    "dicom-cid-7603": Source(
        "DICOM PS3.16 CID 7603 Vertebra (SNOMED CT codes and code meanings)",
        "https://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_7603.html, read in GitHub "
        "bvdh/dicom-terminology-in-fhir, input/fsh/ValueSet-dicom-cid-7603-Vertebra.fsh",
        "primary",
    ),
    "dicom-cid-6096": Source(
        "DICOM PS3.16 CID 6096 Pregnancy Status",
        "GitHub bvdh/dicom-terminology-in-fhir, input/fsh/ValueSet-dicom-cid-6096-PregnancyStatus.fsh",
        "primary",
    ),
    "hl7-ips-pregnancy": Source(
        "HL7 International Patient Summary IG 1.1.0: profile Observation-pregnancy-status-uv-ips (code "
        "82810-3) and ConceptMap loinc-pregnancy-status-to-snomed-ct-uv-ips (LOINC answers and SNOMED CT)",
        "http://hl7.org/fhir/uv/ips/STU1.1/ConceptMap-loinc-pregnancy-status-to-snomed-ct-uv-ips.html",
        "primary",
    ),
    "reference-corroborated": Source(
        "The project's standards reference, marked CONFIRMED there from independent copies that agree: "
        "42942008 (NCBI MedGen C0262431, an ACR RadElement finding model, a FHIR value set), 72514-3 "
        "(FHIR profiles and value sets), RxNorm 46041 (RxNav JSON) and 77655 (OHDSI concept set)",
        "not read in SNOMED CT, LOINC or RxNorm's own releases",
        "corroborated",
    ),
    "loinc-coding-pages": Source(
        "LOINC DXA T-score terms as shown on coding pages (findacode.com, healthassure.in), which agree",
        "https://www.findacode.com/loinc/38267-1--dxa-lumbar-spine-t-score-bone-density.html and the "
        "pages of 38263-0 and 38264-8; not read in a LOINC release",
        "secondary",
    ),
}
"""Every publication a standard code of the mapping was read in, by id (the published table lists them)."""


@dataclass(frozen=True)
class Code:
    """A code in a system; ``prefix`` codes also match every code under them (ICD-10-CM, ATC, SOPT).

    A standard code names the :data:`SOURCES` entry it was read in; vertaid's own codes name none."""

    system: str
    code: str
    display: str
    prefix: bool = False
    source: str = ""

    @property
    def checked(self) -> bool:
        """Whether the code was read where it can be trusted (vertaid's own, or a source that is not
        merely secondary); the published table marks the others."""
        return self.system == VERTAID or SOURCES[self.source].standing != "secondary"

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


def _icd(code: str, display: str, prefix: bool = True) -> Code:
    """An ICD-10-CM code as the CDC's tabular list gives it (a category or subcategory and its codes)."""
    return Code(ICD10CM, code, display, prefix, "cdc-icd10cm-2026")


def _atc(code: str, display: str, prefix: bool = False) -> Code:
    """An ATC group (a prefix) or substance as the WHO index names it."""
    return Code(ATC, code, display, prefix, "who-atc-2026")


def _sopt(code: str, display: str, prefix: bool = True) -> Code:
    """A Source of Payment Typology code and the codes under it."""
    return Code(SOPT, code, display, prefix, "phdsc-sopt-9.2")


# -- vertaid's own codes ---------------------------------------------------------------------------

VERTAID_CODES: Final[dict[str, str]] = {}
"""Every code of the vertaid code system, with its display (filled as the codes are defined below)."""


def _own(code: str, display: str) -> Code:
    assert code not in VERTAID_CODES, f"vertaid code {code} is defined twice"
    VERTAID_CODES[code] = display
    return _vertaid(code, display)


# -- vertebrae -------------------------------------------------------------------------------------

_VERTEBRA_SNOMED: Final = {
    # DICOM CID 7603 "Vertebra": SNOMED CT codes, shown with the CID's code meanings ("T12 vertebra").
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
    **{
        level: Code(SNOMED, code, f"{level} vertebra", source="dicom-cid-7603")
        for level, code in _VERTEBRA_SNOMED.items()
    },
    # CID 7603 stops at L5; the case model also names S1.
    "S1": _own("vertebra-s1", "First sacral vertebra (S1)"),
}
"""The body-site code of each vertebral level the case model names (Condition and Observation bodySite)."""

assert tuple(VERTEBRAE) == LEVELS, "every level of the case model has exactly one body-site code"

# -- the fracture ----------------------------------------------------------------------------------

FRACTURE_CODES: Final[tuple[tuple[Code, str | None], ...]] = (
    # A Condition with one of these codes is a vertebral fracture; the second member is the cause the
    # code states (None: the code does not say).
    (
        Code(SNOMED, "42942008", "Compression fracture of vertebral column", source="reference-corroborated"),
        None,
    ),
    (
        _icd("M80.08", "Age-related osteoporosis with current pathological fracture, vertebra(e)"),
        "osteoporotic",
    ),
    (_icd("M80.88", "Other osteoporosis with current pathological fracture, vertebra(e)"), "osteoporotic"),
    # M48.5- excludes osteoporotic, neoplastic and traumatic fractures but names no cause of its own.
    (_icd("M48.5", "Collapsed vertebra, not elsewhere classified"), None),
    (_icd("S12.0", "Fracture of first cervical vertebra"), "traumatic"),
    (_icd("S12.1", "Fracture of second cervical vertebra"), "traumatic"),
    (_icd("S12.2", "Fracture of third cervical vertebra"), "traumatic"),
    (_icd("S12.3", "Fracture of fourth cervical vertebra"), "traumatic"),
    (_icd("S12.4", "Fracture of fifth cervical vertebra"), "traumatic"),
    (_icd("S12.5", "Fracture of sixth cervical vertebra"), "traumatic"),
    (_icd("S12.6", "Fracture of seventh cervical vertebra"), "traumatic"),
    (_icd("S22.0", "Fracture of thoracic vertebra"), "traumatic"),
    (_icd("S32.0", "Fracture of lumbar vertebra"), "traumatic"),
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
PREGNANT: Final = Code(SNOMED, "77386006", "Pregnant", source="hl7-ips-pregnancy")
NOT_PREGNANT: Final = Code(SNOMED, "60001007", "Not pregnant", source="hl7-ips-pregnancy")

OBSERVATIONS: Final[tuple[ObservationMapping, ...]] = (
    ObservationMapping(
        "patient.t_score",
        (
            # Seen on coding pages only (marked in the published table); vertaid's own code beside
            # them carries the same value.
            Code(LOINC, "38267-1", "DXA Lumbar spine [T-score] Bone density", source="loinc-coding-pages"),
            Code(LOINC, "38263-0", "DXA Femur [T-score] Bone density", source="loinc-coding-pages"),
            Code(LOINC, "38264-8", "DXA Hip [T-score] Bone density", source="loinc-coding-pages"),
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
        (Code(LOINC, "82810-3", "Pregnancy status", source="hl7-ips-pregnancy"),),
        "code",
        answers=(
            (PREGNANT, True),
            (Code(LOINC, "LA15173-0", "Pregnant", source="hl7-ips-pregnancy"), True),
            (NOT_PREGNANT, False),
            (Code(LOINC, "LA26683-5", "Not pregnant", source="hl7-ips-pregnancy"), False),
            (Code(SNOMED, "261665006", "Unknown", source="dicom-cid-6096"), None),
            (Code(LOINC, "LA4489-6", "Unknown", source="hl7-ips-pregnancy"), None),
        ),
    ),
    ObservationMapping(
        "pain.nrs",
        (
            Code(
                LOINC,
                "72514-3",
                "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                source="reference-corroborated",
            ),
        ),
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
            _icd("D65", "Disseminated intravascular coagulation [defibrination syndrome]"),
            _icd("D66", "Hereditary factor VIII deficiency"),
            _icd("D67", "Hereditary factor IX deficiency"),
            # D68 (Other coagulation defects) also holds the thrombophilias, D68.5- and D68.6-: clotting
            # too readily is not the bleeding disorder a coagulopathy is here, so only its other
            # subcategories count.
            _icd("D68.0", "Von Willebrand disease"),
            _icd("D68.1", "Hereditary factor XI deficiency"),
            _icd("D68.2", "Hereditary deficiency of other clotting factors"),
            _icd("D68.3", "Hemorrhagic disorder due to circulating anticoagulants"),
            _icd("D68.4", "Acquired coagulation factor deficiency"),
            _icd("D68.8", "Other specified coagulation defects"),
            _icd("D68.9", "Coagulation defect, unspecified"),
        ),
        active="uncorrected",
        inactive="corrected",
    ),
    ConditionMapping(
        "patient.active_infection",
        (
            _own("active-infection", "Active systemic or surgical-site infection"),
            _icd("A40", "Streptococcal sepsis"),
            _icd("A41", "Other sepsis"),
        ),
    ),
    ConditionMapping(
        "patient.osteomyelitis_or_discitis",
        (
            _own("osteomyelitis-or-discitis", "Osteomyelitis or discitis"),
            _icd("M46.2", "Osteomyelitis of vertebra"),
            _icd("M46.3", "Infection of intervertebral disc (pyogenic)"),
            _icd("M46.4", "Discitis, unspecified"),
        ),
    ),
    ConditionMapping(
        "patient.pregnant",
        (PREGNANT, _icd("Z33.1", "Pregnant state, incidental", prefix=False)),
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
            _atc("B01AA", "Vitamin K antagonists", prefix=True),
            _atc("B01AB", "Heparin group", prefix=True),
            _atc("B01AE", "Direct thrombin inhibitors", prefix=True),
            _atc("B01AF", "Direct factor Xa inhibitors", prefix=True),
        ),
        taking=True,
    ),
    MedicationMapping(
        "patient.osteoporosis_treatment",
        (
            _own("osteoporosis-drug", "Osteoporosis drug (any)"),
            _atc("M05BA", "Bisphosphonates", prefix=True),
            _atc("M05BB", "Bisphosphonates, combinations", prefix=True),
            _atc("M05BX04", "denosumab"),
            _atc("M05BX06", "romosozumab"),
            _atc("H05AA02", "teriparatide"),
            _atc("G03XC01", "raloxifene"),
            Code(RXNORM, "46041", "alendronate", source="reference-corroborated"),
            Code(RXNORM, "77655", "zoledronic acid", source="reference-corroborated"),
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


def _encounter(code: str, display: str) -> Code:
    return Code(V3_ACT_CODE, code, display, source="hl7-act-encounter-code")


ENCOUNTER_CLASSES: Final[tuple[tuple[Code, str], ...]] = (
    (_encounter("IMP", "inpatient encounter"), "inpatient"),
    (_encounter("ACUTE", "inpatient acute"), "inpatient"),
    (_encounter("NONAC", "inpatient non-acute"), "inpatient"),
    (_encounter("AMB", "ambulatory"), "outpatient"),
    (_encounter("EMER", "emergency"), "outpatient"),
    (_encounter("OBSENC", "observation encounter"), "outpatient"),
    (_encounter("PRENC", "pre-admission"), "outpatient"),
    (_encounter("SS", "short stay"), "outpatient"),
    (_encounter("VR", "virtual"), "outpatient"),
    (_encounter("HH", "home health"), "outpatient"),
    (_encounter("FLD", "field"), "outpatient"),
)
"""Encounter.class of a current encounter (in progress, arrived, triaged, on leave) and the setting."""

COVERAGE_TYPES: Final[tuple[tuple[Code, str | None], ...]] = (
    (_sopt("1", "MEDICARE"), "medicare"),
    (_sopt("5", "PRIVATE HEALTH INSURANCE"), "private"),
    (_sopt("6", "BLUE CROSS/BLUE SHIELD"), "private"),
    (
        _sopt("81", "Self-pay (Includes applicants for insurance and Medicaid applicants)", prefix=False),
        "uninsured",
    ),
    (Code(COVERAGE_SELFPAY, "pay", "Pay", source="hl7-coverage-selfpay"), "uninsured"),
    # Two codes under 9 say the payer is not known; they leave the insurance missing, not "other".
    (_sopt("99", "No Typology Code available for payment source", prefix=False), None),
    (_sopt("9999", "Unavailable / No Payer Specified / Blank", prefix=False), None),
    (_sopt("9", "MISCELLANEOUS/OTHER"), "other"),
    (_sopt("2", "MEDICAID"), "other"),
    (_sopt("3", "OTHER GOVERNMENT (Federal/State/Local) (excluding Department of Corrections)"), "other"),
    (_sopt("4", "DEPARTMENTS OF CORRECTIONS"), "other"),
    (
        _sopt(
            "7", "MANAGED CARE, UNSPECIFIED (to be used only if one can't distinguish public from private)"
        ),
        "other",
    ),
    (_sopt("8", "NO PAYMENT from an Organization/Agency/Program/Private Payer Listed"), "other"),
)
"""Coverage.type of an active Coverage and the insurance it is (None: not known, left missing); the
first match counts (81 before 8, 99 and 9999 before 9)."""

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
            "1-: medicare; 5-, 6-: private; 81, pay: uninsured; 99, 9999: not known (left missing); "
            "others: other",
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


def standard_codes() -> list[Code]:
    """Every standard code the mapping reads or writes, answers included, once each."""
    found = [code for row in mapping_rows() for code in row.codes]
    found += [answer for mapping in OBSERVATIONS for answer, _ in mapping.answers]
    return list(dict.fromkeys(code for code in found if code.system != VERTAID))


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
