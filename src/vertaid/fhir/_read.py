"""FHIR R4 → ``vertaid.case/1``: read a Bundle, or a CDS Hooks prefetch, into a case.

Every resource is first checked as FHIR R4 with the ``fhir.resources`` R4B models (imported here only,
so that nothing else in vertaid pays for them). The case is then filled from the tables of ``_terms``:
what the input does not hold stays out of the case, so that the assessment lists it as missing exactly
as it would an absent member; what cannot be read, or contradicts itself, is a problem naming the
resource and element. All problems are gathered and reported together.

The reference date (the "now" that ages and weeks count back from) is the caller's ``as_of`` when given,
else the Bundle's ``timestamp``, else its ``meta.lastUpdated``; never the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from vertaid.domain._shapes import Problem, describe
from vertaid.fhir import _terms as terms
from vertaid.fhir._common import FhirCase, InvalidBundle
from vertaid.fhir._time import WEEK_DIGITS, Moment, moment

if TYPE_CHECKING:
    from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.coverage import Coverage
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.procedure import Procedure
    from fhir.resources.R4B.quantity import Quantity
    from fhir.resources.R4B.reference import Reference
    from fhir.resources.R4B.servicerequest import ServiceRequest

__all__ = ["read_case"]

# -- statuses: which resources count (True), which are left aside (False); any other is a problem -------

OBSERVATION_STATUS: Final = {
    "final": True,
    "amended": True,
    "corrected": True,
    "preliminary": True,
    "unknown": True,
    "registered": False,
    "cancelled": False,
    "entered-in-error": False,
}
ENCOUNTER_STATUS: Final = {
    "in-progress": True,
    "arrived": True,
    "triaged": True,
    "onleave": True,
    "planned": False,
    "finished": False,
    "cancelled": False,
    "entered-in-error": False,
    "unknown": False,
}
COVERAGE_STATUS: Final = {"active": True, "cancelled": False, "draft": False, "entered-in-error": False}
MEDICATION_STATEMENT_STATUS: Final = {
    "active": "taking",
    "on-hold": "taking",
    "not-taken": "not-taken",
    "completed": None,
    "stopped": None,
    "intended": None,
    "entered-in-error": None,
    "unknown": None,
}
MEDICATION_REQUEST_STATUS: Final = {
    "active": "taking",
    "on-hold": "taking",
    "cancelled": None,
    "completed": None,
    "entered-in-error": None,
    "stopped": None,
    "draft": None,
    "unknown": None,
}
SERVICE_REQUEST_STATUS: Final = {
    "active": True,
    "on-hold": True,
    "completed": True,
    "draft": False,
    "revoked": False,
    "entered-in-error": False,
    "unknown": False,
}
PROCEDURE_STATUS: Final = {
    "in-progress": "ongoing",
    "on-hold": "ongoing",
    "completed": "ended",
    "stopped": "ended",
    "preparation": None,
    "not-done": None,
    "entered-in-error": None,
    "unknown": None,
}
CLINICAL_STATUS: Final = {
    "active": True,
    "recurrence": True,
    "relapse": True,
    "inactive": False,
    "remission": False,
    "resolved": False,
}
ALLERGY_CLINICAL_STATUS: Final = {"active": True, "inactive": False, "resolved": False}
LEFT_ASIDE_VERIFICATION: Final = frozenset({"refuted", "entered-in-error"})
"""A Condition or AllergyIntolerance verified as refuted or entered in error is not read at all."""


@dataclass
class _Item:
    """One resource of the input: its model, and how problems name it."""

    label: str
    resource: Any
    full_url: str | None = None

    @property
    def kind(self) -> str:
        kind: str = self.resource.get_resource_type()
        return kind


@dataclass
class _Evidence:
    """One value for a case member, where it was read, and when it holds."""

    value: object
    source: str
    time: Moment | None = None
    group: str = ""


@dataclass
class _Fracture:
    """What the fracture Conditions say of one vertebra."""

    level: str
    sources: list[str] = field(default_factory=list)
    causes: list[_Evidence] = field(default_factory=list)
    onsets: list[_Evidence] = field(default_factory=list)


def read_case(document: object, as_of: date | datetime | None = None) -> FhirCase:
    """Read a FHIR R4 Bundle, or a CDS Hooks prefetch object, into a ``vertaid.case/1``.

    Args:
        document: the parsed JSON: a Bundle, or an object of prefetch keys each holding a resource, a
            Bundle or null.
        as_of: the reference date ages and weeks count back from; the Bundle's ``timestamp`` (or
            ``meta.lastUpdated``) when not given. A ``datetime`` must carry its time zone.

    Raises:
        InvalidBundle: with every problem found, each naming the resource and element.
    """
    if isinstance(as_of, datetime) and (as_of.tzinfo is None or as_of.utcoffset() is None):
        raise ValueError("as_of must carry its time zone")
    return _Reader(document, as_of).read()


class _Reader:
    def __init__(self, document: object, as_of: date | datetime | None) -> None:
        self.document = document
        self.problems: list[Problem] = []
        self.items: list[_Item] = []
        self.by_key: dict[str, _Item] = {}
        self.reference: Moment | None = moment(as_of) if as_of is not None else None
        self.reference_source = "as_of"
        self.case_id: str | None = None
        self.sources: dict[str, str] = {}
        self.evidence: dict[tuple[str, str | None], dict[str, list[_Evidence]]] = {}
        self.fractures: dict[str, _Fracture] = {}
        self.unread_fractures: set[str] = set()
        """Fracture Conditions with a problem: findings about them are not reported a second time."""
        self.care: list[tuple[str | None, str, float, float]] = []

    # -- loading ------------------------------------------------------------------------------

    def read(self) -> FhirCase:
        self._load()
        if self.problems:
            raise InvalidBundle(self.problems)
        self._check_one_patient()
        if self.problems:
            raise InvalidBundle(self.problems)  # nothing about another patient may reach the case
        conditions = self._of("Condition")
        for item in conditions:
            self._condition(item)
        for item in self.items:
            reader = _READERS.get(item.kind)
            if reader is not None:
                reader(self, item)
        case = self._assemble()
        if self.problems:
            raise InvalidBundle(self.problems)
        return FhirCase(case, self.sources, _hints())

    def _problem(self, where: str, message: str) -> None:
        self.problems.append((where, message))

    def _load(self) -> None:
        document = self.document
        if not isinstance(document, dict):
            self._problem("$", f"{describe(document)} is not a FHIR Bundle or a CDS Hooks prefetch object")
            return
        if "resourceType" in document:
            kind = document["resourceType"]
            if kind != "Bundle":
                self._problem(
                    "resourceType",
                    f"{describe(kind)} is not Bundle: vertaid reads a Bundle, or a CDS Hooks prefetch object",
                )
                return
            self._bundle(document, "Bundle", top=True)
        else:
            for key, value in document.items():
                where = f"prefetch.{key}"
                if value is None:
                    continue  # a prefetch key the client had no data for (CDS Hooks §prefetch)
                if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                    self._bundle(value, where, top=False)
                else:
                    self._add(value, where, None)

    def _bundle(self, bundle: dict[str, Any], where: str, top: bool) -> None:
        from fhir.resources.R4B.bundle import Bundle

        entries = bundle.get("entry", [])
        if not isinstance(entries, list):
            self._problem(f"{where}.entry", f"{describe(entries)} is not a list")
            return
        shell = dict(bundle)
        shell["entry"] = [
            {key: value for key, value in entry.items() if key != "resource"}
            if isinstance(entry, dict)
            else entry
            for entry in entries
        ]
        if not shell["entry"]:
            del shell["entry"]
        model = self._validate(Bundle, shell, where)
        if model is None:
            return
        if top:
            if model.identifier is not None and model.identifier.value is not None:
                self.case_id = model.identifier.value
                self.sources["id"] = f"{where}.identifier.value"
            if self.reference is None:
                if model.timestamp is not None:
                    self.reference, self.reference_source = moment(model.timestamp), "Bundle.timestamp"
                elif model.meta is not None and model.meta.lastUpdated is not None:
                    self.reference = moment(model.meta.lastUpdated)
                    self.reference_source = "Bundle.meta.lastUpdated"
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if resource is None:
                continue  # an entry of a transaction response or a search link: no resource to read
            full_url = entry.get("fullUrl")
            self._add(resource, f"{where}.entry[{index}]", full_url if isinstance(full_url, str) else None)

    def _add(self, raw: object, where: str, full_url: str | None) -> None:
        from fhir.resources.R4B import get_fhir_model_class

        if not isinstance(raw, dict):
            self._problem(where, f"{describe(raw)} is not a FHIR resource")
            return
        kind = raw.get("resourceType")
        if not isinstance(kind, str):
            self._problem(where, "has no resourceType")
            return
        try:
            model_class = get_fhir_model_class(kind)
        except (KeyError, ValueError):
            self._problem(f"{where}.resourceType", f"{describe(kind)} is not a FHIR R4 resource type")
            return
        resource_id = raw.get("id")
        label = f"{kind}/{resource_id}" if isinstance(resource_id, str) else f"{where} ({kind})"
        if kind in ("Bundle", "OperationOutcome"):
            # A Bundle inside a Bundle is not a patient's record; an OperationOutcome in prefetch says
            # that the client could not fetch something, which then stays missing.
            return
        model = self._validate(model_class, raw, label)
        if model is None:
            return
        item = _Item(label, model, full_url)
        key = f"{kind}/{resource_id}" if isinstance(resource_id, str) else None
        if key is not None and key in self.by_key:
            if self.by_key[key].resource != model:
                self._problem(label, f"appears twice with different content ({where} and an earlier entry)")
            return
        if key is not None:
            self.by_key[key] = item
        if full_url is not None:
            self.by_key.setdefault(full_url, item)
        self.items.append(item)

    def _validate(self, model_class: Any, raw: dict[str, Any], label: str) -> Any:
        try:
            return model_class.model_validate(raw)
        except ValidationError as error:
            for problem in error.errors():
                location = _location(problem["loc"])
                self._problem(f"{label}.{location}" if location else label, _plain(problem["msg"]))
        except KeyError as error:
            # fhir.resources raises this, not a ValidationError, for a resource of unknown type inside.
            self._problem(label, f"is not valid FHIR R4: it holds a resource of an unknown type ({error})")
        except (ValueError, TypeError) as error:
            self._problem(label, f"is not valid FHIR R4 ({error})")
        return None

    def _of(self, kind: str) -> list[_Item]:
        return [item for item in self.items if item.kind == kind]

    def _resolve(self, reference: Reference | None) -> _Item | None:
        if reference is None or reference.reference is None:
            return None
        text = reference.reference
        if text in self.by_key:
            return self.by_key[text]
        parts = text.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2:
            return self.by_key.get(f"{parts[-2]}/{parts[-1]}")
        return None

    def _check_one_patient(self) -> None:
        patients = self._of("Patient")
        if len(patients) > 1:
            labels = ", ".join(item.label for item in patients)
            self._problem(
                patients[1].label, f"is a second patient ({labels}): the input must be one patient's"
            )
            return
        if not patients:
            return
        patient = patients[0]
        for item in self.items:
            for element in ("subject", "patient", "beneficiary"):
                reference = getattr(item.resource, element, None)
                if reference is None or getattr(reference, "reference", None) is None:
                    continue
                target = self._resolve(reference)
                if target is patient:
                    continue
                text: str = reference.reference
                parts = text.split("/_history/")[0].rstrip("/").split("/")
                if target is not None or (len(parts) >= 2 and parts[-2] == "Patient"):
                    self._problem(f"{item.label}.{element}", f"refers to {text}, not to {patient.label}")

    # -- resources ------------------------------------------------------------------------------

    def _patient(self, item: _Item) -> None:
        patient: Patient = item.resource
        if patient.gender is not None:
            self._record(item, "patient.sex", None, _Evidence(patient.gender, f"{item.label}.gender"))
        if patient.birthDate is None:
            return
        born = moment(patient.birthDate)
        where = f"{item.label}.birthDate"
        reference = self._reference(where, "the patient's age")
        if born is None or reference is None:
            return
        youngest, oldest = reference.years_since(born)
        if youngest != oldest:
            self._problem(
                where,
                f"{born.text()} gives an age of {youngest} or {oldest} on {reference.first_day}: "
                "the day of birth is needed",
            )
            return
        self._record(item, "patient.age", None, _Evidence(youngest, where))

    def _encounter(self, item: _Item) -> None:
        encounter: Encounter = item.resource
        if not self._counts(item, "status", encounter.status, ENCOUNTER_STATUS):
            return
        setting = _lookup(terms.ENCOUNTER_CLASSES, [(encounter.class_fhir.system, encounter.class_fhir.code)])
        where = f"{item.label}.class"
        if setting is None:
            coding = f"{encounter.class_fhir.system}#{encounter.class_fhir.code}"
            self._problem(where, f"{coding} is not an encounter class vertaid knows (HL7 v3 ActCode)")
            return
        self._record(item, "patient.setting", None, _Evidence(setting, where))

    def _coverage(self, item: _Item) -> None:
        coverage: Coverage = item.resource
        if not self._counts(item, "status", coverage.status, COVERAGE_STATUS):
            return
        where = f"{item.label}.type"
        codings = _codings(coverage.type)
        kinds = [kind for code, kind in terms.COVERAGE_TYPES if _matches(code, codings)]
        if not kinds:
            self._problem(where, "does not say the kind of insurance (a SOPT or coverage-selfpay code)")
            return
        insurance = kinds[0]
        if insurance is None:  # a code that says the payer is not known: the insurance stays missing
            return
        self._record(
            item, "patient.insurance", None, _Evidence(insurance, where, group=str(coverage.order or ""))
        )

    def _condition(self, item: _Item) -> None:
        condition: Condition = item.resource
        if _code(condition.verificationStatus) in LEFT_ASIDE_VERIFICATION:
            return
        codings = _codings(condition.code)
        fracture_codes = [(code, cause) for code, cause in terms.FRACTURE_CODES if _matches(code, codings)]
        if fracture_codes:
            self._fracture(item, condition, fracture_codes)
        mappings = [mapping for mapping in terms.CONDITIONS if _matches_any(mapping.codes, codings)]
        current = self._current(item, condition.clinicalStatus, CLINICAL_STATUS) if mappings else None
        if current is None:
            return
        for mapping in mappings:
            value = mapping.active if current else mapping.inactive
            if value is not None:
                rank = 0 if current else 1
                self._record(
                    item, mapping.field, None, _Evidence(value, f"{item.label}.code", group=str(rank))
                )

    def _fracture(
        self, item: _Item, condition: Condition, codes: list[tuple[terms.Code, str | None]]
    ) -> None:
        before = len(self.problems)
        levels = self._levels(item, condition.bodySite or [], "bodySite")
        if not condition.bodySite:
            self._problem(f"{item.label}.bodySite", "is needed to name the fractured vertebra")
        onset = self._onset(item, condition)
        if len(self.problems) > before:
            self.unread_fractures.add(item.label)
        causes = sorted({cause for _, cause in codes if cause is not None})
        if len(causes) > 1:
            self._problem(f"{item.label}.code", f"states different causes ({', '.join(causes)})")
            causes = []
        for level in levels:
            fracture = self.fractures.setdefault(level, _Fracture(level))
            fracture.sources.append(f"{item.label}.bodySite")
            if causes:
                fracture.causes.append(_Evidence(causes[0], f"{item.label}.code"))
            if onset is not None:
                fracture.onsets.append(onset)

    def _onset(self, item: _Item, condition: Condition) -> _Evidence | None:
        for element in ("onsetAge", "onsetRange", "onsetString"):
            if getattr(condition, element) is not None:
                self._problem(f"{item.label}.{element}", "cannot be read as a date: give onsetDateTime")
                return None
        if condition.onsetDateTime is not None:
            value, where = condition.onsetDateTime, f"{item.label}.onsetDateTime"
        elif condition.onsetPeriod is not None and condition.onsetPeriod.start is not None:
            value, where = condition.onsetPeriod.start, f"{item.label}.onsetPeriod.start"
        else:
            return None
        weeks = self._weeks_before_reference(value, where, "the weeks since onset")
        return None if weeks is None else _Evidence(weeks, where)

    def _levels(self, item: _Item, sites: Sequence[CodeableConcept], element: str) -> list[str]:
        levels = []
        for index, site in enumerate(sites):
            codings = _codings(site)
            level = next((name for name, code in terms.VERTEBRAE.items() if _matches(code, codings)), None)
            if level is None:
                shown = ", ".join(f"{system}#{code}" for system, code in codings) or "no coding"
                self._problem(
                    f"{item.label}.{element}[{index}]",
                    f"{shown} is not a vertebra vertaid knows "
                    "(SNOMED CT of DICOM CID 7603, or vertaid vertebra-s1)",
                )
                continue
            if level not in levels:
                levels.append(level)
        return levels

    def _observation(self, item: _Item) -> None:
        observation: Observation = item.resource
        codings = _codings(observation.code)
        mappings = [mapping for mapping in terms.OBSERVATIONS if _matches_any(mapping.codes, codings)]
        if not mappings:
            return
        if len(mappings) > 1:
            fields = ", ".join(mapping.field for mapping in mappings)
            self._problem(f"{item.label}.code", f"has codes of different findings ({fields})")
            return
        if not self._counts(item, "status", observation.status, OBSERVATION_STATUS):
            return
        mapping = mappings[0]
        found = self._observation_value(item, observation, mapping)
        if found is None:
            return
        value, element = found
        matched = next(code for code in mapping.codes if _matches(code, codings))
        time = self._effective(observation)
        evidence = _Evidence(value, f"{item.label}.{element}", time, group=f"{matched.system}#{matched.code}")
        if not mapping.per_vertebra:
            self._record(item, mapping.field, None, evidence)
            return
        for level in self._observation_levels(item, observation):
            self._record(item, mapping.field, level, evidence)

    def _observation_levels(self, item: _Item, observation: Observation) -> list[str]:
        by_site = self._levels(item, [observation.bodySite], "bodySite") if observation.bodySite else []
        by_focus: list[str] = []
        for index, reference in enumerate(observation.focus or []):
            target = self._resolve(reference)
            where = f"{item.label}.focus[{index}]"
            if target is not None and target.label in self.unread_fractures:
                return []  # its problem is reported already
            if target is None or target.kind != "Condition":
                self._problem(where, f"{reference.reference} is not a Condition in the input")
                continue
            named = [
                level
                for level, fracture in self.fractures.items()
                if any(source.startswith(f"{target.label}.") for source in fracture.sources)
            ]
            if not named:
                self._problem(where, f"{target.label} is not a vertebral fracture vertaid read")
            by_focus.extend(level for level in named if level not in by_focus)
        if observation.bodySite is None and not observation.focus:
            self._problem(
                f"{item.label}.bodySite", "is needed (or focus on the fracture) to name the vertebra"
            )
            return []
        if by_site and by_focus and not set(by_site) <= set(by_focus):
            self._problem(
                f"{item.label}.bodySite",
                f"names {', '.join(by_site)}, but focus names {', '.join(by_focus)}",
            )
            return []
        if not by_site and len(by_focus) > 1:
            self._problem(
                f"{item.label}.bodySite",
                f"is needed: the fracture in focus has {len(by_focus)} vertebrae ({', '.join(by_focus)})",
            )
            return []
        levels = by_site or by_focus
        for level in levels:
            if level not in self.fractures and not self.unread_fractures:
                self._problem(
                    f"{item.label}.bodySite",
                    f"names {level}, but no fracture Condition of the input names {level}",
                )
                return []
        return levels

    def _observation_value(
        self, item: _Item, observation: Observation, mapping: terms.ObservationMapping
    ) -> tuple[object, str] | None:
        label = item.label
        if mapping.kind == "morphometry":
            return self._morphometry(item, observation, mapping)
        if mapping.kind == "priorities":
            return self._priorities(item, observation)
        present = [name for name in _VALUE_ELEMENTS if getattr(observation, name) is not None]
        if not present:
            if observation.dataAbsentReason is None:
                self._problem(f"{label}.value[x]", "is missing, and no dataAbsentReason says why")
            return None  # a value the EHR records as absent stays missing
        element = present[0]
        value = getattr(observation, element)
        if mapping.kind == "boolean" and element == "valueBoolean":
            return bool(value), element
        if mapping.kind == "integer" and element == "valueInteger":
            return int(value), element
        if mapping.kind in ("integer", "decimal") and element == "valueQuantity":
            amount = self._quantity(value, f"{label}.{element}", mapping.units)
            if amount is None:
                return None
            if mapping.kind == "integer":
                if not amount.is_integer():
                    self._problem(f"{label}.{element}.value", f"{amount} is not a whole number")
                    return None
                return int(amount), element
            return amount, element
        if mapping.kind == "code" and element == "valueCodeableConcept":
            codings = _codings(value)
            for code, answer in mapping.answers:
                if _matches(code, codings):
                    return (None, element) if answer is None else (answer, element)
            allowed = ", ".join(code.code for code, _ in mapping.answers)
            shown = ", ".join(f"{system}#{code}" for system, code in codings) or "no coding"
            self._problem(
                f"{label}.{element}", f"{shown} is not one of the answers vertaid reads ({allowed})"
            )
            return None
        wanted = {
            "boolean": "valueBoolean",
            "integer": "valueInteger or valueQuantity",
            "decimal": "valueQuantity",
            "code": "valueCodeableConcept",
        }[mapping.kind]
        self._problem(f"{label}.{element}", f"cannot hold this finding: it needs {wanted}")
        return None

    def _quantity(self, quantity: Quantity, where: str, units: tuple[str, ...]) -> float | None:
        if quantity.comparator is not None:
            self._problem(f"{where}.comparator", f"{describe(quantity.comparator)}: a bound is not a value")
            return None
        if quantity.value is None:
            self._problem(f"{where}.value", "is missing")
            return None
        unit = quantity.code if quantity.code is not None else quantity.unit
        if unit is not None and unit not in units:
            wanted = ", ".join(units) if units else "no unit"
            self._problem(f"{where}.code", f"{describe(unit)} is not the unit vertaid reads ({wanted})")
            return None
        return float(Decimal(quantity.value))

    def _morphometry(
        self, item: _Item, observation: Observation, mapping: terms.ObservationMapping
    ) -> tuple[object, str] | None:
        parts: dict[str, float] = {}
        ok = True
        for index, component in enumerate(observation.component or []):
            codings = _codings(component.code)
            member = next((name for name, code in terms.MORPHOMETRY_PARTS if _matches(code, codings)), None)
            where = f"{item.label}.component[{index}]"
            if member is None:
                continue
            if member in parts:
                self._problem(f"{where}.code", f"{member} height is given twice")
                ok = False
                continue
            if component.valueQuantity is None:
                self._problem(f"{where}.valueQuantity", "is missing")
                ok = False
                continue
            amount = self._quantity(component.valueQuantity, f"{where}.valueQuantity", mapping.units)
            if amount is None:
                ok = False
                continue
            parts[member] = amount
        missing = [name for name, _ in terms.MORPHOMETRY_PARTS if name not in parts]
        if ok and missing:
            self._problem(f"{item.label}.component", f"lacks the {', '.join(missing)} height(s)")
        if not ok or missing:
            return None
        return {name: parts[name] for name, _ in terms.MORPHOMETRY_PARTS}, "component"

    def _priorities(self, item: _Item, observation: Observation) -> tuple[object, str] | None:
        priorities: list[object] = []
        for index, component in enumerate(observation.component or []):
            if not _matches(terms.PRIORITY_PART, _codings(component.code)):
                continue
            where = f"{item.label}.component[{index}].valueCodeableConcept"
            codings = _codings(component.valueCodeableConcept)
            answer = next((value for code, value in terms.PRIORITY_ANSWERS if _matches(code, codings)), None)
            if answer is None:
                self._problem(where, "is not a treatment priority vertaid reads")
                return None
            if answer not in priorities:
                priorities.append(answer)
        return priorities, "component"

    def _effective(self, observation: Observation) -> Moment | None:
        if observation.effectiveDateTime is not None:
            return moment(observation.effectiveDateTime)
        if observation.effectiveInstant is not None:
            return moment(observation.effectiveInstant)
        period = observation.effectivePeriod
        if period is not None:
            return moment(period.end if period.end is not None else period.start)
        return moment(observation.issued) if observation.issued is not None else None

    def _allergy(self, item: _Item) -> None:
        allergy: AllergyIntolerance = item.resource
        if _code(allergy.verificationStatus) in LEFT_ASIDE_VERIFICATION:
            return
        codings = _codings(allergy.code)
        mappings = [mapping for mapping in terms.ALLERGIES if _matches_any(mapping.codes, codings)]
        if mappings and self._current(item, allergy.clinicalStatus, ALLERGY_CLINICAL_STATUS):
            for mapping in mappings:
                self._record(item, mapping.field, None, _Evidence(True, f"{item.label}.code"))

    def _medication(self, item: _Item) -> None:
        medication: MedicationStatement | MedicationRequest = item.resource
        statuses = (
            MEDICATION_STATEMENT_STATUS if item.kind == "MedicationStatement" else MEDICATION_REQUEST_STATUS
        )
        status = medication.status
        if status not in statuses:
            self._problem(f"{item.label}.status", f"{describe(status)} is not a {item.kind} status")
            return
        use = statuses[status]
        if use is None:
            return
        if medication.medicationCodeableConcept is not None:
            codings, where = _codings(medication.medicationCodeableConcept), "medicationCodeableConcept"
        else:
            target = self._resolve(medication.medicationReference)
            where = "medicationReference"
            if target is None or target.kind != "Medication":
                shown = medication.medicationReference.reference if medication.medicationReference else None
                self._problem(f"{item.label}.{where}", f"{shown} is not a Medication in the input")
                return
            codings = _codings(target.resource.code)
        for mapping in terms.MEDICATIONS:
            if not _matches_any(mapping.codes, codings):
                continue
            value = mapping.taking if use == "taking" else mapping.not_taken
            if value is not None:
                self._record(item, mapping.field, None, _Evidence(value, f"{item.label}.{where}"))

    def _service_request(self, item: _Item) -> None:
        request: ServiceRequest = item.resource
        if not self._counts(item, "status", request.status, SERVICE_REQUEST_STATUS):
            return
        codings = _codings(request.code)
        for mapping in terms.REFERRALS:
            if _matches_any(mapping.codes, codings):
                self._record(item, mapping.field, None, _Evidence(mapping.value, f"{item.label}.code"))
        care = _care(codings)
        if care is None or request.status != "completed":
            return  # an order that is not done is no evidence of care given
        if request.occurrencePeriod is not None:
            self._care_span(
                item,
                care,
                "occurrencePeriod",
                request.occurrencePeriod.start,
                request.occurrencePeriod.end,
                False,
            )
        elif request.occurrenceDateTime is not None:
            value = request.occurrenceDateTime
            self._care_span(item, care, "occurrenceDateTime", value, value, False)
        else:
            self._problem(f"{item.label}.occurrence[x]", "is needed to count the weeks of care")

    def _procedure(self, item: _Item) -> None:
        procedure: Procedure = item.resource
        care = _care(_codings(procedure.code))
        if care is None:
            return
        status = procedure.status
        if status not in PROCEDURE_STATUS:
            self._problem(f"{item.label}.status", f"{describe(status)} is not a Procedure status")
            return
        use = PROCEDURE_STATUS[status]
        if use is None:
            return
        ongoing = use == "ongoing"
        if procedure.performedPeriod is not None:
            period = procedure.performedPeriod
            self._care_span(item, care, "performedPeriod", period.start, period.end, ongoing)
        elif procedure.performedDateTime is not None:
            value = procedure.performedDateTime
            self._care_span(item, care, "performedDateTime", value, None if ongoing else value, ongoing)
        else:
            self._problem(
                f"{item.label}.performed[x]", "is needed (performedPeriod) to count the weeks of care"
            )

    def _care_span(
        self, item: _Item, care: terms.CareMapping, element: str, start: object, end: object, ongoing: bool
    ) -> None:
        where = f"{item.label}.{element}"
        if start is None:
            self._problem(f"{where}.start", "is needed to count the weeks of care")
            return
        if end is None and not ongoing:
            self._problem(
                f"{where}.end", "is needed: the care has ended, so its end tells how long it lasted"
            )
            return
        started = self._weeks_before_reference(start, where, "the weeks of care")
        ended = 0.0 if end is None else self._weeks_before_reference(end, where, "the weeks of care")
        if started is None or ended is None:
            return
        if ended > started:
            self._problem(where, "ends before it starts")
            return
        self.care.append((care.modality, where, started, ended))

    # -- values and times ---------------------------------------------------------------------------

    def _current(
        self, item: _Item, concept: CodeableConcept | None, statuses: dict[str, bool]
    ) -> bool | None:
        """Whether a diagnosis or allergy is current, by its clinicalStatus; None (a problem) when it
        does not say."""
        status = _code(concept)
        where = f"{item.label}.clinicalStatus"
        if status is None:
            self._problem(where, f"is needed to tell whether the {item.kind} is current")
            return None
        if status not in statuses:
            self._problem(where, f"{describe(status)} is not a {item.kind} clinical status")
            return None
        return statuses[status]

    def _counts(self, item: _Item, element: str, value: str | None, statuses: dict[str, bool]) -> bool:
        if value not in statuses:
            self._problem(f"{item.label}.{element}", f"{describe(value)} is not a {item.kind} {element}")
            return False
        return statuses[value]

    def _reference(self, where: str, what: str) -> Moment | None:
        if self.reference is None:
            self._problem(
                where,
                f"needs a reference date to work out {what}, and the input has none: give the Bundle a "
                "timestamp, or an as-of date",
            )
        return self.reference

    def _weeks_before_reference(self, value: object, where: str, what: str) -> float | None:
        when = moment(value)
        if when is None:
            self._problem(where, f"{describe(value)} cannot be read as a date")
            return None
        reference = self._reference(where, what)
        if reference is None:
            return None
        weeks = reference.weeks_since(when)
        if weeks is None:
            self._problem(where, f"{when.text()} is not precise to the day: {what} cannot be counted")
            return None
        if weeks < 0:
            self._problem(where, f"{when.text()} is after the reference date ({self.reference_source})")
            return None
        return weeks

    def _record(self, item: _Item, case_field: str, level: str | None, evidence: _Evidence) -> None:
        kind = item.kind
        by_kind = self.evidence.setdefault((case_field, level), {})
        by_kind.setdefault(_SOURCE_KINDS.get(kind, kind), []).append(evidence)

    # -- the case -------------------------------------------------------------------------------------

    def _assemble(self) -> dict[str, Any]:
        case: dict[str, Any] = {}
        if self.case_id is not None:
            case["id"] = self.case_id
        case["patient"] = {}
        case["pain"] = {}
        for (case_field, level), by_kind in self.evidence.items():
            if level is not None:
                continue
            chosen = self._combine(case_field, by_kind)
            if chosen is not None and chosen.value is not None:
                self._put(case, case_field, chosen)
        care = self._conservative_care()
        if care:
            case["conservative_care"] = care
        case["fractures"] = [
            self._fracture_of(index, fracture) for index, fracture in enumerate(self.fractures.values())
        ]
        return case

    def _put(self, case: dict[str, Any], case_field: str, evidence: _Evidence) -> None:
        section, member = case_field.split(".") if "." in case_field else ("", case_field)
        target = case.setdefault(section, {}) if section else case
        target[member] = evidence.value
        self.sources[case_field] = evidence.source

    def _fracture_of(self, index: int, fracture: _Fracture) -> dict[str, Any]:
        path = f"fractures[{index}]"
        member: dict[str, Any] = {"level": fracture.level}
        self.sources[f"{path}.level"] = fracture.sources[0]
        for name, evidence in (("cause", fracture.causes), ("onset_weeks", fracture.onsets)):
            chosen = self._agreeing(f"{path}.{name}", evidence)
            if chosen is not None:
                member[name] = chosen.value
                self.sources[f"{path}.{name}"] = chosen.source
        for (case_field, level), by_kind in self.evidence.items():
            if level != fracture.level:
                continue
            name = case_field.removeprefix("fractures[].")
            chosen = self._combine(case_field, by_kind, f"{path}.{name}")
            if chosen is not None and chosen.value is not None:
                member[name] = chosen.value
                self.sources[f"{path}.{name}"] = chosen.source
        return member

    def _combine(
        self, case_field: str, by_kind: dict[str, list[_Evidence]], path: str | None = None
    ) -> _Evidence | None:
        """One value from several resources (docs/fhir-mapping.md, "Several resources for one member"):
        each kind of resource gives one by its rule, and the kinds must then agree. ``path`` is the
        member's place in the case, for messages (``fractures[0].mri_edema``)."""
        path = path or case_field
        chosen = [
            item
            for kind, evidence in by_kind.items()
            if (item := self._choose(case_field, path, kind, evidence)) is not None and item.value is not None
        ]
        if case_field == "patient.osteoporosis_treatment":
            return _first_by_precedence(chosen)
        return self._agreeing(path, chosen)

    def _choose(self, case_field: str, path: str, kind: str, evidence: list[_Evidence]) -> _Evidence | None:
        if case_field == "patient.osteoporosis_treatment":
            return _first_by_precedence(evidence)
        if kind == "Encounter":
            return next((e for e in evidence if e.value == "inpatient"), evidence[0])
        if kind == "Condition":
            return min(evidence, key=lambda e: e.group)  # an active diagnosis outranks an inactive one
        if kind == "Coverage":
            return self._primary(evidence)
        mapping = _OBSERVATION_BY_FIELD.get(case_field)
        if kind != "Observation" or mapping is None:
            return self._agreeing(path, evidence)
        if mapping.rule == "lowest":
            groups: dict[str, list[_Evidence]] = {}
            for item in evidence:
                groups.setdefault(item.group, []).append(item)
            latest = [self._latest(path, group) for group in groups.values()]
            known = [item for item in latest if item is not None and item.value is not None]
            return min(known, key=lambda e: _number(e.value)) if known else None
        return self._latest(path, evidence)

    def _latest(self, path: str, evidence: list[_Evidence]) -> _Evidence | None:
        """The latest Observation wins; when no single value is surely the latest, that is a conflict."""
        candidates = [
            item
            for item in evidence
            if not any(
                other.time is not None and item.time is not None and other.time.surely_after(item.time)
                for other in evidence
            )
        ]
        return self._agreeing(path, candidates, "none is surely the latest")

    def _agreeing(self, path: str, evidence: list[_Evidence], why: str = "") -> _Evidence | None:
        if not evidence:
            return None
        first = evidence[0]
        for other in evidence[1:]:
            if _same(other.value, first.value):
                continue
            reason = f": {why}" if why else ""
            self._problem(
                first.source,
                f"says {_shown(first.value)} for {path}, "
                f"but {other.source} says {_shown(other.value)}{reason}",
            )
            return None
        return first

    def _primary(self, evidence: list[_Evidence]) -> _Evidence | None:
        """Several active coverages of different kinds: the one with the lowest order is the primary."""
        if all(_same(item.value, evidence[0].value) for item in evidence):
            return evidence[0]
        if all(item.group for item in evidence):
            return min(evidence, key=lambda e: int(e.group))
        return self._agreeing("patient.insurance", evidence, "give each Coverage its order")

    def _conservative_care(self) -> dict[str, Any]:
        if not self.care:
            return {}
        # Weeks before the reference date: the earliest start and the latest end (0 while ongoing).
        started = max(start for _, _, start, _ in self.care)
        ended = min(end for _, _, _, end in self.care)
        weeks = round(started - ended, WEEK_DIGITS)
        modalities = []
        for modality, _, _, _ in self.care:
            if modality is not None and modality not in modalities:
                modalities.append(modality)
        care: dict[str, Any] = {"weeks": weeks}
        self.sources["conservative_care.weeks"] = "; ".join(where for _, where, _, _ in self.care)
        if modalities:
            care["modalities"] = modalities
        return care


_VALUE_ELEMENTS: Final = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)

_OBSERVATION_BY_FIELD: Final = {mapping.field: mapping for mapping in terms.OBSERVATIONS}
_SOURCE_KINDS: Final = {"MedicationRequest": "MedicationStatement"}
"""Kinds of resource whose values are chosen together (an order and a statement of the same drug)."""


def _first_by_precedence(evidence: list[_Evidence]) -> _Evidence | None:
    if not evidence:
        return None
    return min(evidence, key=lambda e: terms.TREATMENT_PRECEDENCE.index(str(e.value)))


def _location(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain(message: str) -> str:
    return " ".join(message.split())


def _codings(concept: CodeableConcept | None) -> list[tuple[str | None, str | None]]:
    if concept is None:
        return []
    return [(coding.system, coding.code) for coding in concept.coding or []]


def _code(concept: CodeableConcept | None) -> str | None:
    codings = _codings(concept)
    return codings[0][1] if codings else None


def _matches(code: terms.Code, codings: list[tuple[str | None, str | None]]) -> bool:
    return any(code.matches(system, value) for system, value in codings)


def _matches_any(codes: Iterable[terms.Code], codings: list[tuple[str | None, str | None]]) -> bool:
    return any(_matches(code, codings) for code in codes)


def _lookup(
    table: Iterable[tuple[terms.Code, str]], codings: list[tuple[str | None, str | None]]
) -> str | None:
    return next((value for code, value in table if _matches(code, codings)), None)


def _care(codings: list[tuple[str | None, str | None]]) -> terms.CareMapping | None:
    return next((care for care in terms.CARE if _matches(care.code, codings)), None)


def _same(one: object, other: object) -> bool:
    return json.dumps(one, sort_keys=True) == json.dumps(other, sort_keys=True)


def _shown(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


def _hints() -> dict[str, str]:
    """What a required member needs from the input, for the case model's "is required" problems."""
    return {
        "patient.age": "the input has no Patient with a birthDate",
        "pain.nrs": "the input has no Observation of pain (LOINC 72514-3) with a value",
        "fractures": "the input has no Condition of a vertebral fracture (e.g. SNOMED CT 42942008) "
        "naming its vertebra",
    }


_READERS: Final = {
    "Patient": _Reader._patient,
    "Encounter": _Reader._encounter,
    "Coverage": _Reader._coverage,
    "Observation": _Reader._observation,
    "AllergyIntolerance": _Reader._allergy,
    "MedicationStatement": _Reader._medication,
    "MedicationRequest": _Reader._medication,
    "ServiceRequest": _Reader._service_request,
    "Procedure": _Reader._procedure,
}
