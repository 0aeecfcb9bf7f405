"""docs/fhir-mapping.md, written from the mapping tables of ``_terms`` (a test checks the file matches)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from vertaid.fhir import _read, _terms
from vertaid.fhir._time import WEEK_DIGITS

__all__ = ["mapping_markdown"]

_INTRODUCTION: Final = """\
# FHIR R4 mapping

How vertaid reads a patient's FHIR R4 record as a `vertaid.case/1` (`vertaid assess --fhir BUNDLE.json`,
`vertaid.fhir.assess_fhir`), and writes a case as a Bundle (`vertaid.fhir.case_to_bundle`, which made the
examples in `examples/fhir/`). This file is generated from `src/vertaid/fhir/_terms.py` by
`.venv/bin/python scripts/fhir_generate.py`; a test fails when the two differ.

## What is read

- **Input**: a `Bundle` of any type, or a CDS Hooks prefetch object (each key holding a resource, a Bundle
  or null). Every resource is checked as FHIR R4 with the `fhir.resources` R4B models; resources of other
  types are checked and otherwise left aside, `OperationOutcome`s included (what they say could not be
  fetched stays missing). A resource that appears twice (same type and id) must be the same both times.
- **One patient**: at most one `Patient`; a resource whose subject (or `patient`, `beneficiary`) names
  another patient is an error.
- **Reference date**: ages and weeks count back from the caller's `as_of` (`--as-of` on the command
  line) when given, else the Bundle's `timestamp`, else its `meta.lastUpdated`; never the clock. A
  prefetch object has neither, so it needs `as_of`. A date without a time is taken as a calendar day;
  two times with zones are counted to the second. Weeks are kept to 1/10,000 of a week (about a minute).
  The age is in whole years; a birth date known only to the month or year is an error when the age it
  gives is not certain.
- **Absent means missing**: what the input does not hold stays out of the case, so the assessment lists
  it in `missing` exactly as it would an absent member (or, for a required member, names the resource
  it needs). Members marked (f) in the contract are false unless a resource says otherwise.
- **Errors** name the resource (`Observation/nrs-2`, or its place, `Bundle.entry[3] (Observation)`, when
  it has no id) and the element: `Observation/nrs-2.valueInteger: says 7 for pain.nrs, but ...`. A value
  the case model refuses names the resource it came from:
  `Condition/f1.onsetDateTime: 600.0 is more than 520 (as fractures[0].onset_weeks)`. No default is
  made up for what cannot be read.

## Which resources count

| resource | read | left aside (a diagnosis or allergy: read as not current) |
|---|---|---|
{statuses}

A `Condition` or `AllergyIntolerance` verified as `refuted` or `entered-in-error` is left aside. One
whose clinical status is missing is an error (vertaid cannot tell whether it is current). For a fracture
`Condition` the clinical status is not read: whether a fracture has healed is the policy's to decide,
from onset and imaging.

## Several resources for one member

- **Observations**: the latest wins (`effective[x]`, else `issued`; a Period by its end). When no single
  value is surely the latest (the same time, times that overlap at their precision, or a time missing)
  and the values differ, that is an error naming both resources. The T-score is the lowest of each
  code's latest (each DXA site, and vertaid's `lowest-dxa-t-score`).
- **Diagnoses** (`Condition`): an active one outranks an inactive one (coagulopathy: `uncorrected`
  before `corrected`).
- **Encounter**: inpatient when any current encounter is of an inpatient class.
- **Coverage**: one kind of insurance from all active coverages; when they differ, the one with the
  lowest `order` (the primary); without `order`, an error.
- **Osteoporosis treatment**: a drug being taken (`on_treatment`) outranks a referral (`referred`),
  which outranks a statement that no osteoporosis drug is taken (`none`).
- **Different kinds of resource for one member** (a pregnancy `Condition` and a pregnancy-status
  `Observation`) must agree, or it is an error.
- **Fractures**: one per vertebra named in a fracture `Condition`'s `bodySite`, in the input's order; two
  Conditions naming the same vertebra are one fracture, and their causes and onsets must agree. A
  finding about a vertebra names it by `bodySite` (a vertebra code), by `focus` on the fracture
  `Condition`, or both (then they must agree); a finding about a vertebra no fracture Condition names is
  an error. (`derivedFrom` is not read: in R4 it cannot refer to a Condition.) A fracture's cause is
  read from its own Condition's code only: a cancer diagnosis elsewhere in the record does not make a
  fracture malignant, which takes a clinician's judgement (a biopsy, imaging); code it as such (vertaid
  `malignant-vertebral-fracture`).
- **Non-surgical care**: the weeks run from the earliest start of any care `Procedure` (in progress, on
  hold, completed or stopped; or a completed `ServiceRequest`) to the latest end, or to the reference
  date while any is in progress. The modalities are those named, in the input's order. An order that is
  not completed is not evidence of care given.

## Code systems

| name | system |
|---|---|
{systems}

Codes are matched by system and code (ICD-10-CM without its dot; a code shown with a trailing `-`
matches every code under it). Standard codes are used where one exists; vertaid's own code system holds
the rest, and a coding of it may sit beside a site's own coding of the same concept. Each standard code
was read in the publication listed for it below (where the standard codes were read), and its display is
that publication's wording. A code marked † was seen only in secondary pages, not in its code system's
own publication: it is read only beside a vertaid code for the same fact, and should be checked before a
site relies on it.

## The mapping

`fractures[].x` is a member of each fracture. The writer (`case_to_bundle`) uses the first code of a
row unless its note says otherwise.

| case member | resource | element | code system | codes | note |
|---|---|---|---|---|---|
{rows}

## Where the standard codes were read

Standing: *primary*, the code system's own publication or a verbatim copy of it; *corroborated*,
independent copies that agree, as the project's standards reference records them; *secondary*, coding
pages only (the codes marked †).

| source | standing | codes | publication | read in |
|---|---|---|---|---|
{sources}

## vertaid's code system

`{vertaid}`

| code | display |
|---|---|
{codes}
"""


def mapping_markdown() -> str:
    """The text of docs/fhir-mapping.md."""
    return _INTRODUCTION.format(
        statuses="\n".join(_status_rows()),
        systems="\n".join(f"| {name} | `{system}` |" for system, name in _terms.SYSTEM_NAMES.items()),
        rows="\n".join(_mapping_rows()),
        sources="\n".join(_source_rows()),
        vertaid=_terms.VERTAID,
        codes="\n".join(
            f"| `{code}` | {display} |" for code, display in sorted(_terms.VERTAID_CODES.items())
        ),
    ).replace("1/10,000", f"1/{10**WEEK_DIGITS:,}")


def _status_rows() -> list[str]:
    tables: list[tuple[str, str, Mapping[str, object]]] = [
        ("Observation", "status", _read.OBSERVATION_STATUS),
        ("Encounter", "status", _read.ENCOUNTER_STATUS),
        ("Coverage", "status", _read.COVERAGE_STATUS),
        ("Condition", "clinicalStatus", _read.CLINICAL_STATUS),
        ("AllergyIntolerance", "clinicalStatus", _read.ALLERGY_CLINICAL_STATUS),
        ("MedicationStatement", "status", _read.MEDICATION_STATEMENT_STATUS),
        ("MedicationRequest", "status", _read.MEDICATION_REQUEST_STATUS),
        ("ServiceRequest", "status", _read.SERVICE_REQUEST_STATUS),
        ("Procedure", "status", _read.PROCEDURE_STATUS),
    ]
    rows = []
    for resource, element, statuses in tables:
        counts = ", ".join(f"`{status}`" for status, use in statuses.items() if use)
        aside = ", ".join(f"`{status}`" for status, use in statuses.items() if not use)
        rows.append(f"| {resource} ({element}) | {counts} | {aside} |")
    return rows


def _source_rows() -> list[str]:
    """One line per source and the standard codes read in it."""
    codes: dict[str, list[str]] = {source: [] for source in _terms.SOURCES}
    for code in _terms.standard_codes():
        if code.written() not in codes[code.source]:
            codes[code.source].append(code.written())
    return [
        f"| `{key}` | {source.standing} | {', '.join(f'`{code}`' for code in codes[key])} "
        f"| {source.title} | {source.where} |"
        for key, source in _terms.SOURCES.items()
    ]


def _mapping_rows() -> list[str]:
    lines = []
    for row in _terms.mapping_rows():
        systems = []
        for code in row.codes:
            name = _terms.SYSTEM_NAMES[code.system]
            if name not in systems:
                systems.append(name)
        codes = ", ".join(f"`{code.written()}`{'' if code.checked else '†'}" for code in row.codes)
        cells = (f"`{row.field}`", row.resource, f"`{row.element}`", ", ".join(systems), codes, row.note)
        lines.append(f"| {' | '.join(cells)} |")
    return lines
