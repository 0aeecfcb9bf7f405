"""FHIR R4 in (``vertaid.fhir``): a Bundle or a CDS Hooks prefetch read as a case.

The mapping itself is docs/fhir-mapping.md. These tests build Bundles with the writer
(``case_to_bundle``) and then change, add or remove resources, so that each rule of the mapping is seen
to act on its own: what the Bundle lacks is missing, the latest Observation wins, what contradicts
itself or cannot be read is an error naming the resource and element.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings

import vertaid
from tests.test_properties import ANY_CASE
from vertaid.domain._shapes import Record
from vertaid.domain.case import CASE_SHAPE, parse_case
from vertaid.fhir import InvalidBundle, assess_fhir, case_from_fhir, case_to_bundle
from vertaid.fhir._doc import mapping_markdown
from vertaid.fhir._terms import SOURCES, VERTAID, mapping_rows, standard_codes

AS_OF: Final = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"

BASE_CASE: Final[dict[str, Any]] = {
    "id": "fhir-base",
    "patient": {"age": 78, "sex": "female", "t_score": -3.1, "insurance": "medicare"},
    "pain": {"nrs": 8, "trend": "stable", "concordant_with_fracture": True},
    "conservative_care": {"weeks": 6, "modalities": ["analgesics", "brace"]},
    "fractures": [
        {
            "level": "L1",
            "cause": "osteoporotic",
            "onset_weeks": 7,
            "mri_edema": True,
            "height_loss_percent": 35,
            "posterior_wall": "intact",
        }
    ],
}


def base_bundle(case: dict[str, Any] | None = None) -> dict[str, Any]:
    """The base case (or another) as a Bundle, as plain JSON."""
    bundle: dict[str, Any] = json.loads(json.dumps(case_to_bundle(case or BASE_CASE, AS_OF)))
    return bundle


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle, in order."""
    return [entry["resource"] for entry in bundle["entry"]]


def coded(resource: dict[str, Any], code: str) -> bool:
    """Whether a resource's code (or medication) has a coding with this code."""
    concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    return any(coding.get("code") == code for coding in concept.get("coding", []))


def the(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    """The one resource of a Bundle coded ``code``."""
    found = [resource for resource in resources(bundle) if coded(resource, code)]
    assert 1 == len(found), code
    return found[0]


def without(bundle: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The Bundle with only the resources ``keep`` accepts."""
    changed = copy.deepcopy(bundle)
    changed["entry"] = [entry for entry in changed["entry"] if keep(entry["resource"])]
    return changed


def add(bundle: dict[str, Any], *added: dict[str, Any]) -> dict[str, Any]:
    """The Bundle with more resources at its end."""
    changed = copy.deepcopy(bundle)
    changed["entry"].extend({"resource": resource} for resource in added)
    return changed


def observation(rid: str, code: tuple[str, str], when: str | None, **value: Any) -> dict[str, Any]:
    """An Observation with one coding, an effective time (or none) and a value element."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": code[0], "code": code[1]}]},
        "subject": {"reference": "Patient/patient"},
        **value,
    }
    if when is not None:
        resource["effectiveDateTime"] = when
    return resource


def condition(rid: str, system: str, code: str, status: str | None = "active", **more: Any) -> dict[str, Any]:
    """A Condition with one coding and a clinical status (or none)."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/patient"},
        **more,
    }
    if status is not None:
        resource["clinicalStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        }
    return resource


def problems_of(document: object, as_of: date | datetime | None = None) -> list[tuple[str, str]]:
    """The problems reading ``document`` raises (it must raise)."""
    with pytest.raises(InvalidBundle) as raised:
        assess_fhir(document, as_of)
    return raised.value.problems


def read(document: object, as_of: date | datetime | None = None) -> dict[str, Any]:
    """The case a Bundle holds."""
    return case_from_fhir(document, as_of).case


NRS: Final = (LOINC, "72514-3")

# -- round trips ----------------------------------------------------------------------------------


def _holdable(case: dict[str, Any]) -> dict[str, Any]:
    """A generated case as FHIR can hold it: weeks to 1/10,000 (they are written as dates and times),
    and a case id that is a FHIR string (never empty, no white space but spaces, tabs and line ends)."""
    case = copy.deepcopy(case)
    for fracture in case["fractures"]:
        if isinstance(fracture.get("onset_weeks"), float):
            fracture["onset_weeks"] = round(fracture["onset_weeks"], 4)
    care = case.get("conservative_care")
    if isinstance(care, dict) and isinstance(care.get("weeks"), float):
        care["weeks"] = round(care["weeks"], 4)
    if isinstance(case.get("id"), str):
        case["id"] = "".join(char for char in case["id"] if not char.isspace() or char in " \t\r\n") or "x"
        if not case["id"].strip(" \t\r\n"):
            case["id"] = "x"
    return case


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_CASE.map(_holdable))
def test_any_case_written_as_a_bundle_reads_back_member_for_member(case: dict[str, Any]) -> None:
    """Case -> Bundle -> case gives the same case, member for member (compared as the case model
    builds it, so that null, absent and a default are the same), through JSON text."""
    bundle = json.loads(json.dumps(case_to_bundle(case, AS_OF)))

    assert parse_case(case) == parse_case(read(bundle))


def test_a_round_trip_keeps_every_member_of_a_full_case() -> None:
    """A case with every member set to a value other than its default reads back equal, as raw JSON."""
    case = {
        "id": "every member",
        "patient": {
            "age": 81,
            "sex": "male",
            "setting": "inpatient",
            "t_score": -2.6,
            "activity_level": "low",
            "insurance": "uninsured",
            "asa_class": 3,
            "frailty_index": 2,
            "severe_cardiopulmonary_disease": True,
            "pulmonary_dysfunction": True,
            "anticoagulated": True,
            "coagulopathy": "corrected",
            "active_infection": True,
            "osteomyelitis_or_discitis": True,
            "cement_allergy": True,
            "contrast_allergy": True,
            "pregnant": True,
            "osteoporosis_treatment": "none",
        },
        "pain": {
            "nrs": 9,
            "trend": "worsening",
            "concordant_with_fracture": False,
            "rdq": 19,
            "can_mobilise": False,
        },
        "conservative_care": {"weeks": 2.5, "modalities": ["rest", "physical_therapy", "other"]},
        "fractures": [
            {
                "level": "S1",
                "cause": "unknown",
                "onset_weeks": 3.25,
                "mri_edema": False,
                "bone_scan_uptake": True,
                "height_loss_percent": 41.5,
                "morphometry_mm": {
                    "anterior": 12.5,
                    "middle": 15.0,
                    "posterior": 24.0,
                    "reference_posterior": 25.5,
                },
                "height_loss_progressing": True,
                "kyphotic_deformity": False,
                "kyphotic_angle_deg": 21.0,
                "endplates_involved": 2,
                "posterior_wall": "major",
                "tension_band_failure": True,
                "retropulsion": True,
                "neurological_deficit": True,
                "vertebra_plana": True,
                "intravertebral_cleft": True,
            },
            {"level": "C2", "cause": "traumatic"},
        ],
        "preferences": {"priorities": ["posture", "pain_relief"], "cost_sensitive": True},
    }

    assert case == read(base_bundle(case))


def test_a_case_id_fhir_cannot_hold_is_refused_by_the_writer() -> None:
    """The writer refuses an empty case id (a FHIR string is never empty) rather than drop it."""
    with pytest.raises(ValueError, match="FHIR string"):
        case_to_bundle({**BASE_CASE, "id": ""}, AS_OF)


def test_every_standard_code_names_the_publication_it_was_read_in() -> None:
    """Each standard code (answers included) names a known source, and the published table lists it in
    that source's row; vertaid's own codes name none."""
    table = {
        line.split(" | ")[0].strip("| `"): line.split(" | ")[2]
        for line in mapping_markdown().splitlines()
        if line.startswith("| `") and line.split(" | ")[0].strip("| `") in SOURCES
    }
    codes = standard_codes()

    assert codes, "the mapping has standard codes"
    for code in codes:
        assert code.source in SOURCES, code
        assert f"`{code.written()}`" in table[code.source].split(", "), code
    own = [code for row in mapping_rows() for code in row.codes if code.system == VERTAID]
    assert own and all(code.source == "" for code in own)


def test_a_code_seen_only_on_secondary_pages_is_marked_and_read_only_beside_vertaids_own() -> None:
    """A code whose source is secondary is marked † in the published table, and its row also has a
    vertaid code for the same fact, so no fact depends on it alone."""
    secondary = [code for code in standard_codes() if SOURCES[code.source].standing == "secondary"]
    document = mapping_markdown()

    assert secondary, "the T-score LOINC codes are still only seen on coding pages"
    for code in secondary:
        assert not code.checked and f"`{code.written()}`†" in document
        rows = [row for row in mapping_rows() if code in row.codes]
        assert rows and all(any(other.system == VERTAID for other in row.codes) for row in rows), code
    assert all(code.checked for code in standard_codes() if code not in secondary)


def test_the_mapping_covers_every_member_of_the_case_model() -> None:
    """Every member of vertaid.case/1 (and every fracture member) has a row in the published mapping."""
    mapped = {row.field for row in mapping_rows()}
    members = {"id"}
    for section, spec in CASE_SHAPE.fields.items():
        if section == "id":
            continue
        inner = getattr(spec.shape, "item", spec.shape)
        assert isinstance(inner, Record)
        prefix = "fractures[]" if section == "fractures" else section
        members.update(f"{prefix}.{name}" for name in inner.fields)

    assert set() == members - mapped


# -- what the Bundle lacks ----------------------------------------------------------------------------


def test_a_missing_finding_is_listed_as_missing_exactly_as_an_absent_member() -> None:
    """Without its MRI Observation the Bundle's assessment is the JSON case's without mri_edema:
    the same missing entries (fractures[0].mri_edema among them), the same decision."""
    bundle = without(base_bundle(), lambda resource: not coded(resource, "mri-bone-marrow-edema"))
    case = copy.deepcopy(BASE_CASE)
    del case["fractures"][0]["mri_edema"]

    from_fhir = assess_fhir(bundle)

    assert vertaid.assess(case) == from_fhir
    assert "fractures[0].mri_edema" in [entry["field"] for entry in from_fhir["missing"]]


def test_a_bundle_without_pain_or_patient_names_what_is_required() -> None:
    """No Patient and no pain Observation: the required members are named with the resource they need."""
    bundle = without(base_bundle(), lambda r: r["resourceType"] != "Patient" and not coded(r, "72514-3"))

    problems = dict(problems_of(bundle))

    assert "Patient with a birthDate" in problems["patient.age"]
    assert "72514-3" in problems["pain.nrs"]


def test_a_bundle_without_a_fracture_condition_says_so() -> None:
    """No fracture Condition (and so no findings about a vertebra): the fractures member is named."""
    bundle = without(base_bundle(), lambda r: r["resourceType"] != "Condition" and "bodySite" not in r)

    problems = dict(problems_of(bundle))

    assert "42942008" in problems["fractures"]


def test_an_observation_recorded_as_absent_stays_missing() -> None:
    """An Observation with a dataAbsentReason and no value leaves its member missing."""
    bundle = base_bundle()
    edema = the(bundle, "mri-bone-marrow-edema")
    del edema["valueBoolean"]
    edema["dataAbsentReason"] = {"coding": [{"code": "not-performed"}]}

    assert "mri_edema" not in read(bundle)["fractures"][0]


# -- several resources for one member -----------------------------------------------------------------


def test_the_latest_pain_score_wins() -> None:
    """Two pain scores at different times: the later one is the case's, whatever their order."""
    bundle = without(base_bundle(), lambda r: not coded(r, "72514-3"))
    later = observation("nrs-later", NRS, "2025-06-01T10:00:00+02:00", valueInteger=4)
    earlier = observation("nrs-earlier", NRS, "2025-05-20", valueInteger=9)

    assert 4 == read(add(bundle, later, earlier))["pain"]["nrs"]
    assert 4 == read(add(bundle, earlier, later))["pain"]["nrs"]


def test_two_different_pain_scores_at_the_same_time_are_a_conflict() -> None:
    """Two pain scores that are both the latest (same time) and differ: an error naming both."""
    bundle = without(base_bundle(), lambda r: not coded(r, "72514-3"))
    bundle = add(
        bundle,
        observation("nrs-a", NRS, "2025-06-01T10:00:00Z", valueInteger=7),
        observation("nrs-b", NRS, "2025-06-01T10:00:00Z", valueInteger=3),
    )

    [(where, message)] = problems_of(bundle)

    assert "Observation/nrs-a.valueInteger" == where
    assert "Observation/nrs-b.valueInteger" in message
    assert "pain.nrs" in message


def test_a_day_does_not_order_against_a_time_on_that_day() -> None:
    """A score dated only by day and one timed on that day overlap: which is later is not known."""
    bundle = without(base_bundle(), lambda r: not coded(r, "72514-3"))
    bundle = add(
        bundle,
        observation("nrs-day", NRS, "2025-06-01", valueInteger=7),
        observation("nrs-time", NRS, "2025-06-01T10:00:00Z", valueInteger=3),
    )

    assert ["Observation/nrs-day.valueInteger"] == [where for where, _ in problems_of(bundle)]


def test_two_different_findings_about_one_vertebra_are_a_conflict_named_by_its_place() -> None:
    """Edema and no edema at L1 at the same time: an error naming both Observations and the member."""
    bundle = base_bundle()
    edema = the(bundle, "mri-bone-marrow-edema")
    bundle = add(bundle, {**edema, "id": "no-edema", "valueBoolean": False})

    [(where, message)] = problems_of(bundle)

    assert "Observation/l1-mri-bone-marrow-edema.valueBoolean" == where
    assert "for fractures[0].mri_edema, but Observation/no-edema.valueBoolean says false" in message


def test_equal_pain_scores_at_the_same_time_are_no_conflict() -> None:
    """The same value twice (a copy in two systems) is one value, not a conflict."""
    bundle = without(base_bundle(), lambda r: not coded(r, "72514-3"))
    bundle = add(
        bundle,
        observation("nrs-a", NRS, None, valueInteger=6),
        observation("nrs-b", NRS, None, valueInteger=6),
    )

    assert 6 == read(bundle)["pain"]["nrs"]


def test_the_t_score_is_the_lowest_of_each_sites_latest() -> None:
    """Spine -1.9 now (-3.5 years ago) and hip -2.7: the lowest current site, -2.7, is the case's."""
    bundle = without(base_bundle(), lambda r: not coded(r, "lowest-dxa-t-score"))
    unit = {"unit": "{T-score}", "system": "http://unitsofmeasure.org", "code": "{T-score}"}
    bundle = add(
        bundle,
        observation("spine-old", (LOINC, "38267-1"), "2019-03-01", valueQuantity={"value": -3.5, **unit}),
        observation("spine", (LOINC, "38267-1"), "2025-05-01", valueQuantity={"value": -1.9, **unit}),
        observation("hip", (LOINC, "38264-8"), "2025-05-01", valueQuantity={"value": -2.7}),
    )

    assert -2.7 == read(bundle)["patient"]["t_score"]


def test_pregnancy_from_a_condition_and_an_observation_must_agree() -> None:
    """An active pregnancy Condition and a latest pregnancy status of "not pregnant" contradict."""
    not_pregnant = {"coding": [{"system": SNOMED, "code": "60001007"}]}
    bundle = add(
        base_bundle(),
        condition("pregnancy", SNOMED, "77386006"),
        observation("status", (LOINC, "82810-3"), "2025-06-01", valueCodeableConcept=not_pregnant),
    )

    [(where, message)] = problems_of(bundle)

    assert "Condition/pregnancy.code" in f"{where} {message}"
    assert "Observation/status.valueCodeableConcept" in f"{where} {message}"
    assert "patient.pregnant" in message


def test_an_active_diagnosis_outranks_a_resolved_one() -> None:
    """A resolved and an active coagulopathy: uncorrected; the resolved one alone: corrected."""
    resolved = condition("dic", ICD10CM, "D65", "resolved")
    active = condition("haemophilia", ICD10CM, "D66", "active")

    assert "corrected" == read(add(base_bundle(), resolved))["patient"]["coagulopathy"]
    assert "uncorrected" == read(add(base_bundle(), resolved, active))["patient"]["coagulopathy"]


def test_a_thrombophilia_is_not_read_as_a_coagulopathy() -> None:
    """ICD-10-CM D68.5-/D68.6- (thrombophilias, under "Other coagulation defects") leave coagulopathy
    missing; D68.4 (acquired coagulation factor deficiency) and D68.311 (acquired hemophilia) count."""

    def coagulopathy(code: str) -> object:
        return read(add(base_bundle(), condition("c", ICD10CM, code)))["patient"].get("coagulopathy")

    assert [None, None, None] == [coagulopathy(code) for code in ("D68.51", "D68.61", "D68.69")]
    assert ["uncorrected", "uncorrected"] == [coagulopathy(code) for code in ("D68.4", "D68.311")]


def test_a_drug_taken_outranks_a_referral_and_a_not_taken_statement() -> None:
    """Osteoporosis treatment: on_treatment beats referred, which beats none (a not-taken statement)."""
    statement = {
        "resourceType": "MedicationStatement",
        "status": "not-taken",
        "medicationCodeableConcept": {"coding": [{"system": VERTAID, "code": "osteoporosis-drug"}]},
        "subject": {"reference": "Patient/patient"},
    }
    referral = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": VERTAID, "code": "osteoporosis-care-referral"}]},
        "subject": {"reference": "Patient/patient"},
    }
    taking = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/zoledronic"},
        "subject": {"reference": "Patient/patient"},
    }
    drug = {
        "resourceType": "Medication",
        "id": "zoledronic",
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "M05BA08"}]},
    }

    def treatment(*added: dict[str, Any]) -> object:
        return read(add(base_bundle(), *added))["patient"].get("osteoporosis_treatment")

    assert "none" == treatment(statement)
    assert "referred" == treatment(statement, referral)
    assert "on_treatment" == treatment(statement, referral, taking, drug)


def test_the_primary_coverage_gives_the_insurance() -> None:
    """Medicare (order 1) and a private supplement (order 2): medicare; without order: an error."""

    def coverage(rid: str, code: str, order: int | None) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Coverage",
            "id": rid,
            "status": "active",
            "type": {"coding": [{"system": "urn:oid:2.16.840.1.113883.3.221.5", "code": code}]},
            "beneficiary": {"reference": "Patient/patient"},
            "payor": [{"display": rid}],
        }
        if order is not None:
            resource["order"] = order
        return resource

    bundle = without(base_bundle(), lambda r: r["resourceType"] != "Coverage")

    assert (
        "medicare"
        == read(add(bundle, coverage("supplement", "511", 2), coverage("mcr", "121", 1)))["patient"][
            "insurance"
        ]
    )
    assert ["Coverage/supplement.type"] == [
        where
        for where, _ in problems_of(
            add(bundle, coverage("supplement", "5", None), coverage("mcr", "1", None))
        )
    ]


def test_a_payer_type_that_says_the_payer_is_not_known_leaves_the_insurance_missing() -> None:
    """SOPT 9999 (no payer specified) and 99 (no typology code) leave the insurance missing, without an
    error; 95 (worker's compensation), also under 9, is "other"."""
    bundle = without(base_bundle(), lambda r: r["resourceType"] != "Coverage")

    def insurance(code: str) -> object:
        coverage = {
            "resourceType": "Coverage",
            "status": "active",
            "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": code}]},
            "beneficiary": {"reference": "Patient/patient"},
            "payor": [{"display": "payer"}],
        }
        return read(add(bundle, coverage))["patient"].get("insurance")

    assert [None, None, "other"] == [insurance(code) for code in ("9999", "99", "95")]


def test_an_inpatient_encounter_in_progress_makes_the_setting_inpatient() -> None:
    """A current inpatient encounter beside an outpatient one: inpatient; a finished one: ignored."""
    bundle = base_bundle()
    admission = {
        "resourceType": "Encounter",
        "id": "admission",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    }

    assert "inpatient" == read(add(bundle, admission))["patient"]["setting"]
    assert "outpatient" == read(add(bundle, {**admission, "status": "finished"}))["patient"]["setting"]


# -- vertebrae, onset, weeks ----------------------------------------------------------------------------


def test_icd_10_cm_codes_are_read_with_or_without_their_dot() -> None:
    """A fracture coded only M80.08XA (or M8008XA) is an osteoporotic fracture of its bodySite."""
    for code in ("M80.08XA", "M8008XA"):
        bundle = base_bundle({**BASE_CASE, "fractures": [{"level": "T12"}]})
        fracture = the(bundle, "42942008")
        fracture["code"] = {"coding": [{"system": ICD10CM, "code": code}]}

        assert [{"level": "T12", "cause": "osteoporotic"}] == read(bundle)["fractures"]


def test_a_condition_with_two_vertebrae_gives_two_fractures_sharing_its_onset() -> None:
    """One Condition naming T12 and L1 is a fracture at each, with its onset and cause."""
    bundle = base_bundle(
        {**BASE_CASE, "fractures": [{"level": "T12", "cause": "osteoporotic", "onset_weeks": 4}]}
    )
    fracture = the(bundle, "42942008")
    fracture["bodySite"].append({"coding": [{"system": SNOMED, "code": "66794005"}]})

    fractures = read(bundle)["fractures"]

    assert ["T12", "L1"] == [member["level"] for member in fractures]
    assert [4.0, 4.0] == [member["onset_weeks"] for member in fractures]


def test_an_unknown_vertebra_code_is_an_error_naming_the_body_site() -> None:
    """A bodySite that is no vertebra (the lumbar spine as a region) is refused, once, by its element."""
    bundle = base_bundle()
    the(bundle, "42942008")["bodySite"] = [{"coding": [{"system": SNOMED, "code": "122496007"}]}]

    [(where, message)] = problems_of(bundle)

    assert "Condition/fracture-l1.bodySite[0]" == where
    assert "122496007 is not a vertebra" in message


def test_a_finding_names_its_vertebra_by_focus_alone() -> None:
    """An Observation with focus on the fracture Condition and no bodySite belongs to that fracture."""
    bundle = base_bundle()
    del the(bundle, "mri-bone-marrow-edema")["bodySite"]

    assert read(bundle)["fractures"][0]["mri_edema"] is True


def test_a_finding_whose_focus_and_body_site_disagree_is_refused() -> None:
    """bodySite T9 but focus on the L1 fracture: an error naming the Observation's bodySite."""
    bundle = base_bundle()
    the(bundle, "mri-bone-marrow-edema")["bodySite"] = {"coding": [{"system": SNOMED, "code": "82687006"}]}

    assert ["Observation/l1-mri-bone-marrow-edema.bodySite"] == [where for where, _ in problems_of(bundle)]


def test_a_finding_about_a_vertebra_without_a_fracture_is_refused() -> None:
    """An MRI finding at T9, where no fracture Condition is, is an error rather than dropped."""
    bundle = add(
        base_bundle(),
        observation(
            "t9-edema",
            (VERTAID, "mri-bone-marrow-edema"),
            "2025-06-01",
            valueBoolean=True,
            bodySite={"coding": [{"system": SNOMED, "code": "82687006"}]},
        ),
    )

    [(where, message)] = problems_of(bundle)

    assert "Observation/t9-edema.bodySite" == where
    assert "T9" in message


def test_onset_counts_weeks_back_from_the_bundle_timestamp_or_as_of() -> None:
    """Onset 2025-04-14 is 7 weeks before the Bundle's timestamp (2025-06-02), 8 before a later as-of."""
    bundle = base_bundle()

    assert 7.0 == read(bundle)["fractures"][0]["onset_weeks"]
    assert 8.0 == read(bundle, date(2025, 6, 9))["fractures"][0]["onset_weeks"]


def test_without_a_reference_date_dates_cannot_be_counted() -> None:
    """No timestamp, no meta.lastUpdated and no as-of: each date that needs one is an error."""
    bundle = base_bundle()
    del bundle["timestamp"]

    problems = [where for where, _ in problems_of(bundle)]

    assert "Patient/patient.birthDate" in problems
    assert "Condition/fracture-l1.onsetDateTime" in problems
    assert 1 == read(bundle | {"meta": {"lastUpdated": "2025-06-02T09:00:00Z"}})["patient"]["age"] // 78


def test_a_birth_year_alone_is_refused_when_the_age_is_not_certain() -> None:
    """Born "1947" on 2025-06-02 is 77 or 78: an error; born "1947-01" is certainly 78."""
    bundle = base_bundle()
    patient = resources(bundle)[0]
    patient["birthDate"] = "1947"

    [(where, message)] = problems_of(bundle)
    patient["birthDate"] = "1947-01"

    assert "Patient/patient.birthDate" == where
    assert "77 or 78" in message
    assert 78 == read(bundle)["patient"]["age"]


def test_a_value_the_case_model_refuses_names_its_resource() -> None:
    """An onset 11 years ago (over 520 weeks) is refused naming the Condition's onsetDateTime."""
    bundle = base_bundle()
    the(bundle, "42942008")["onsetDateTime"] = "2014-01-01"

    [(where, message)] = problems_of(bundle)

    assert "Condition/fracture-l1.onsetDateTime" == where
    assert "fractures[0].onset_weeks" in message


def test_care_weeks_run_from_the_earliest_start_to_the_latest_end() -> None:
    """Analgesics from 6 weeks ago (ongoing) and a brace worn 5 to 3 weeks ago: 6 weeks, both modalities."""
    bundle = without(base_bundle(), lambda r: r["resourceType"] != "Procedure")
    brace = {
        "resourceType": "Procedure",
        "id": "brace",
        "status": "completed",
        "code": {"coding": [{"system": VERTAID, "code": "conservative-care-brace"}]},
        "subject": {"reference": "Patient/patient"},
        "performedPeriod": {"start": "2025-04-28", "end": "2025-05-12"},
    }
    pills = {
        **brace,
        "id": "pills",
        "status": "in-progress",
        "code": {"coding": [{"system": VERTAID, "code": "conservative-care-analgesics"}]},
        "performedPeriod": {"start": "2025-04-21"},
    }

    assert {"weeks": 6.0, "modalities": ["brace", "analgesics"]} == read(add(bundle, brace, pills))[
        "conservative_care"
    ]
    assert {"weeks": 2.0, "modalities": ["brace"]} == read(add(bundle, brace))["conservative_care"]


# -- what cannot be read --------------------------------------------------------------------------------


def test_a_resource_that_is_not_a_bundle_is_refused() -> None:
    """A Patient given where a Bundle is expected: one problem at resourceType."""
    assert [
        ("resourceType", "'Patient' is not Bundle: vertaid reads a Bundle, or a CDS Hooks prefetch object")
    ] == (problems_of({"resourceType": "Patient", "id": "p"}))


def test_invalid_fhir_is_refused_naming_the_resource_and_element() -> None:
    """A valueInteger that is text and an unknown element: each named by resource and element."""
    bundle = base_bundle()
    nrs = the(bundle, "72514-3")
    nrs["valueInteger"] = "seven"
    nrs["severity"] = "high"

    problems = [where for where, _ in problems_of(bundle)]

    assert ["Observation/72514-3.valueInteger", "Observation/72514-3.severity"] == problems


def test_an_unknown_resource_type_and_an_unknown_status_are_refused() -> None:
    """A resourceType FHIR R4 does not have, and an Observation status it does not have, are errors."""
    bundle = add(base_bundle(), {"resourceType": "Vignette"})
    bundle["entry"][-1]["resource"]["id"] = "v"
    the(bundle, "72514-3")["status"] = "done"

    problems = [where for where, _ in problems_of(bundle)]

    assert [f"Bundle.entry[{len(bundle['entry']) - 1}].resourceType"] == problems
    problems = [where for where, _ in problems_of(without(bundle, lambda r: r["resourceType"] != "Vignette"))]
    assert ["Observation/72514-3.status"] == problems


def test_a_diagnosis_without_a_clinical_status_is_refused() -> None:
    """An infection Condition with no clinicalStatus: vertaid cannot tell whether it is current."""
    bundle = add(base_bundle(), condition("sepsis", ICD10CM, "A41.9", status=None))

    assert ["Condition/sepsis.clinicalStatus"] == [where for where, _ in problems_of(bundle)]


def test_a_refuted_diagnosis_is_left_aside() -> None:
    """An infection Condition verified as refuted does not make the patient infected."""
    refuted = condition(
        "sepsis",
        ICD10CM,
        "A41.9",
        verificationStatus={
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}
            ]
        },
    )

    assert "active_infection" not in read(add(base_bundle(), refuted))["patient"]
    assert read(add(base_bundle(), condition("sepsis", ICD10CM, "A41.9")))["patient"]["active_infection"]


def test_a_resource_about_another_patient_is_refused() -> None:
    """An Observation whose subject is another patient cannot be part of this patient's case."""
    other = observation("other", NRS, "2025-06-01", valueInteger=2)
    other["subject"] = {"reference": "Patient/someone-else"}

    assert ["Observation/other.subject"] == [where for where, _ in problems_of(add(base_bundle(), other))]


def test_a_resource_repeated_with_other_content_is_refused() -> None:
    """The same Observation id twice with different values is an error; an exact repeat is not."""
    bundle = base_bundle()
    nrs = copy.deepcopy(the(bundle, "72514-3"))

    assert 8 == read(add(bundle, nrs))["pain"]["nrs"]
    assert ["Observation/72514-3"] == [
        where for where, _ in problems_of(add(bundle, {**nrs, "valueInteger": 2}))
    ]


def test_a_quantity_in_another_unit_is_refused() -> None:
    """A height loss given in mm where percent is read: an error at the Quantity's code."""
    bundle = base_bundle()
    the(bundle, "vertebral-height-loss")["valueQuantity"] = {"value": 9, "code": "mm"}

    assert ["Observation/l1-vertebral-height-loss.valueQuantity.code"] == [
        where for where, _ in problems_of(bundle)
    ]


# -- CDS Hooks prefetch ----------------------------------------------------------------------------------


def test_a_prefetch_object_reads_as_the_bundle_does_given_its_date() -> None:
    """The Bundle's resources split over prefetch keys (a resource, searchset Bundles, a null) give the
    same case with an as-of date, and none without one."""
    bundle = base_bundle()
    patient, *others = resources(bundle)
    prefetch = {
        "patient": patient,
        "conditions": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in others if r["resourceType"] == "Condition"],
        },
        "everything else": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in others if r["resourceType"] != "Condition"],
        },
        "not available": None,
    }

    assert read(bundle) == {**read(prefetch, AS_OF), "id": "fhir-base"}
    assert "Patient/patient.birthDate" in [where for where, _ in problems_of(prefetch)]
