"""``vertaid.case/1`` → FHIR R4: the inverse of the reader, for the example Bundles and the round-trip tests.

The Bundle holds what the case holds and nothing more: a finding the case leaves unknown has no
resource, a finding marked (f) that is false has none either (absent means false for those), and where
the case does not say which drug, site or procedure, vertaid's class codes say only what the case says
(an osteoporosis drug, the lowest T-score, non-surgical care). Resource ids are made from the codes, so
the same case and reference time always give the same Bundle.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final

from vertaid.domain.case import (
    FRACTURE_SHAPE,
    PAIN_SHAPE,
    PATIENT_SHAPE,
    PREFERENCES_SHAPE,
    Case,
    Fracture,
    parse_case,
)
from vertaid.fhir import _terms as terms

__all__ = ["case_to_bundle"]

_PATIENT: Final = "Patient/patient"
_FINAL: Final = "final"


def case_to_bundle(case: object, as_of: datetime) -> dict[str, Any]:
    """Write a ``vertaid.case/1`` as a FHIR R4 ``collection`` Bundle whose timestamp is ``as_of``.

    Reading the Bundle back (:func:`vertaid.fhir.case_from_fhir`) gives the same case, member for member;
    weeks are written as dates, so they come back to 1/10,000 of a week.

    Raises:
        InvalidCase: when ``case`` is not a valid case.
        ValueError: when ``as_of`` has no time zone, or the case id is not a FHIR string (one is never
            empty, and holds no white space but spaces, tabs and line ends).
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must carry its time zone")
    valid = parse_case(case)
    if valid.id is not None and not _FHIR_STRING.fullmatch(valid.id):
        raise ValueError(f"case id {valid.id!r} cannot be written as a FHIR string")
    return _Writer(valid, as_of).bundle()


_FHIR_STRING: Final = re.compile(r"[ \r\n\t\S]+")
"""FHIR R4's string type (the regex of the specification's ``string``)."""


class _Writer:
    def __init__(self, case: Case, as_of: datetime) -> None:
        self.case = case
        self.as_of = as_of
        self.resources: list[dict[str, Any]] = []

    def bundle(self) -> dict[str, Any]:
        case = self.case
        self._patient()
        self._encounter()
        self._coverage()
        self._conditions()
        self._allergies()
        self._medicines()
        for index, fracture in enumerate(case.fractures):
            self._fracture(index, fracture)
        self._observations()
        self._care()
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection"}
        if case.id is not None:
            bundle["identifier"] = {"value": case.id}
        bundle["timestamp"] = self.as_of.isoformat()
        bundle["entry"] = [{"resource": resource} for resource in self.resources]
        return bundle

    # -- the patient ----------------------------------------------------------------------------------

    def _patient(self) -> None:
        patient = self.case.patient
        today = self.as_of.date()
        year = today.year - patient.age
        # Born on this day of the month, ``age`` years ago (28 February for a 29 February reference).
        day = today.day if not (today.month == 2 and today.day == 29) else 28
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": "patient",
            "birthDate": f"{year:04}-{today.month:02}-{day:02}",
        }
        if patient.sex is not None:
            resource["gender"] = patient.sex
        self.resources.append(resource)

    def _encounter(self) -> None:
        written = {"inpatient": "IMP", "outpatient": "AMB"}[self.case.patient.setting]
        code = next(code for code, _ in terms.ENCOUNTER_CLASSES if code.code == written)
        self.resources.append(
            {
                "resourceType": "Encounter",
                "id": "encounter",
                "status": "in-progress",
                "class": _coding(code),
                "subject": {"reference": _PATIENT},
            }
        )

    def _coverage(self) -> None:
        insurance = self.case.patient.insurance
        if insurance is None:
            return
        code = next(
            code
            for code, kind in terms.COVERAGE_TYPES
            if kind == insurance and code.code == terms.INSURANCE_WRITTEN[insurance]
        )
        self.resources.append(
            {
                "resourceType": "Coverage",
                "id": "coverage",
                "status": "active",
                "type": _concept(code),
                "beneficiary": {"reference": _PATIENT},
                # R4 requires a payor; the case names only the kind of insurance.
                "payor": [{"display": code.display}]
                if insurance != "uninsured"
                else [{"reference": _PATIENT}],
            }
        )

    def _conditions(self) -> None:
        patient = self.case.patient
        for mapping in terms.CONDITIONS:
            member = mapping.field.removeprefix("patient.")
            value = getattr(patient, member)
            if not mapping.written:
                continue
            if value == mapping.active:
                status = "active"
            elif mapping.inactive is not None and value == mapping.inactive:
                status = "resolved"
            else:
                continue
            self._diagnosis("Condition", mapping.codes[0], terms.CONDITION_CLINICAL, status)

    def _allergies(self) -> None:
        patient = self.case.patient
        for mapping in terms.ALLERGIES:
            if not getattr(patient, mapping.field.removeprefix("patient.")):
                continue
            self._diagnosis("AllergyIntolerance", mapping.codes[0], terms.ALLERGY_CLINICAL, "active")

    def _diagnosis(self, kind: str, code: terms.Code, statuses: str, status: str) -> None:
        """A Condition or AllergyIntolerance with its code and clinical status."""
        self.resources.append(
            {
                "resourceType": kind,
                "id": _identifier(code.code if kind == "Condition" else f"allergy-{code.code}"),
                "clinicalStatus": _concept(terms.Code(statuses, status, status.title())),
                "code": _concept(code),
                "subject" if kind == "Condition" else "patient": {"reference": _PATIENT},
            }
        )

    def _medicines(self) -> None:
        patient = self.case.patient
        for mapping in terms.MEDICATIONS:
            value = getattr(patient, mapping.field.removeprefix("patient."))
            if value == mapping.taking:
                status = "active"
            elif mapping.not_taken is not None and value == mapping.not_taken:
                status = "not-taken"
            else:
                continue
            code = mapping.codes[0]
            self.resources.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": _identifier(code.code),
                    "status": status,
                    "medicationCodeableConcept": _concept(code),
                    "subject": {"reference": _PATIENT},
                }
            )
        for referral in terms.REFERRALS:
            if getattr(patient, referral.field.removeprefix("patient.")) != referral.value:
                continue
            code = referral.codes[0]
            self.resources.append(
                {
                    "resourceType": "ServiceRequest",
                    "id": _identifier(code.code),
                    "status": "active",
                    "intent": "order",
                    "code": _concept(code),
                    "subject": {"reference": _PATIENT},
                }
            )

    # -- fractures and findings -------------------------------------------------------------------------

    def _fracture(self, index: int, fracture: Fracture) -> None:
        codes = [terms.FRACTURE_CODE]
        if fracture.cause is not None:
            codes.append(
                next(
                    code
                    for code, cause in terms.FRACTURE_CODES
                    if code.system == terms.VERTAID and cause == fracture.cause
                )
            )
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "id": _fracture_id(fracture.level),
            "clinicalStatus": _concept(terms.Code(terms.CONDITION_CLINICAL, "active", "Active")),
            "code": {"coding": [_coding(code) for code in codes]},
            "bodySite": [_concept(terms.VERTEBRAE[fracture.level])],
            "subject": {"reference": _PATIENT},
        }
        if fracture.onset_weeks is not None:
            condition["onsetDateTime"] = self._weeks_ago(fracture.onset_weeks)
        self.resources.append(condition)

    def _observations(self) -> None:
        case = self.case
        sections: dict[str, object] = {
            "patient": case.patient,
            "pain": case.pain,
            "preferences": case.preferences,
        }
        for mapping in terms.OBSERVATIONS:
            if mapping.per_vertebra:
                member = mapping.field.removeprefix("fractures[].")
                for fracture in case.fractures:
                    self._observation(mapping, getattr(fracture, member), fracture.level)
                continue
            section, member = mapping.field.split(".")
            self._observation(mapping, getattr(sections[section], member), None)

    def _observation(self, mapping: terms.ObservationMapping, value: object, level: str | None) -> None:
        if value is None or value == () or (value is False and mapping.field in _DEFAULT_FALSE):
            return
        code = mapping.written or mapping.codes[0]
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": _identifier(f"{level}-{code.code}" if level else code.code),
            "status": _FINAL,
            "code": _concept(code),
            "subject": {"reference": _PATIENT},
            "effectiveDateTime": self.as_of.isoformat(),
        }
        if level is not None:
            resource["focus"] = [{"reference": f"Condition/{_fracture_id(level)}"}]
            resource["bodySite"] = _concept(terms.VERTEBRAE[level])
        resource.update(_value(mapping, value))
        self.resources.append(resource)

    def _care(self) -> None:
        care = self.case.conservative_care
        modalities: list[str | None] = list(care.modalities)
        if not modalities:
            if care.weeks == 0:
                return  # absent is 0 weeks
            modalities = [None]
        started = self._weeks_ago(care.weeks)
        for modality in modalities:
            code = next(mapping.code for mapping in terms.CARE if mapping.modality == modality)
            self.resources.append(
                {
                    "resourceType": "Procedure",
                    "id": _identifier(code.code),
                    "status": "in-progress",
                    "code": _concept(code),
                    "subject": {"reference": _PATIENT},
                    "performedPeriod": {"start": started},
                }
            )

    def _weeks_ago(self, weeks: float) -> str:
        """The time ``weeks`` before the reference: a date when it falls on a whole day, else a time."""
        ago = timedelta(weeks=weeks)
        when = self.as_of - ago
        if ago == timedelta(days=ago.days):
            return when.date().isoformat()
        return when.isoformat()


_DEFAULT_FALSE: Final = frozenset(
    f"{section}.{name}"
    for section, shape in (
        ("patient", PATIENT_SHAPE),
        ("pain", PAIN_SHAPE),
        ("fractures[]", FRACTURE_SHAPE),
        ("preferences", PREFERENCES_SHAPE),
    )
    for name, member in shape.fields.items()
    if member.default is False
)
"""Members marked (f) in the contract: false is the same as absent, so no resource is written for it."""


def _value(mapping: terms.ObservationMapping, value: object) -> dict[str, Any]:
    if mapping.kind == "boolean":
        return {"valueBoolean": value}
    if mapping.kind == "integer":
        return {"valueInteger": value}
    if mapping.kind == "decimal":
        return {"valueQuantity": _quantity(value, mapping.units[0] if mapping.units else None)}
    if mapping.kind == "code":
        code = next(code for code, answer in mapping.answers if answer == value)
        return {"valueCodeableConcept": _concept(code)}
    if mapping.kind == "morphometry":
        return {
            "component": [
                {"code": _concept(code), "valueQuantity": _quantity(getattr(value, member), "mm")}
                for member, code in terms.MORPHOMETRY_PARTS
            ]
        }
    assert isinstance(value, tuple)
    answers = {answer: code for code, answer in terms.PRIORITY_ANSWERS}
    return {
        "component": [
            {"code": _concept(terms.PRIORITY_PART), "valueCodeableConcept": _concept(answers[priority])}
            for priority in value
        ]
    }


def _quantity(value: object, unit: str | None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity.update({"unit": unit, "system": terms.UCUM, "code": unit})
    return quantity


def _coding(code: terms.Code) -> dict[str, Any]:
    return {"system": code.system, "code": code.code, "display": code.display}


def _concept(code: terms.Code) -> dict[str, Any]:
    return {"coding": [_coding(code)]}


def _fracture_id(level: str) -> str:
    return f"fracture-{level.lower()}"


def _identifier(text: str) -> str:
    """A FHIR id made from a code: letters, digits, '-' and '.' only, at most 64 characters."""
    cleaned = "".join(char if char.isascii() and (char.isalnum() or char in "-.") else "-" for char in text)
    return cleaned.lower()[:64]
