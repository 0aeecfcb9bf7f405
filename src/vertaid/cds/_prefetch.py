"""The FHIR data a call needs: the prefetch templates, what a client sent, and what vertaid fetches itself.

The templates ask for what the FHIR mapping reads (docs/fhir-mapping.md), narrowed where a search can
narrow without losing anything the mapping reads: Observations and care Procedures by the codes the
mapping knows, encounters, medicines and coverage by the statuses it reads. Diagnoses and allergies are
asked for whole (the mapping reads ICD-10-CM codes by prefix, which a token search cannot express).

A template the client did not satisfy (the key is absent, holds an OperationOutcome, or a Bundle with
more pages) is fetched from ``fhirServer`` with the ``fhirAuthorization`` token, following ``next``
links on that server only; without both, the call gets 412 with an OperationOutcome naming the keys.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

from vertaid.cds._config import CdsSettings, is_allowed_url

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FHIR_ID",
    "MAX_PAGES",
    "PREFETCH",
    "FetchFailed",
    "fetch",
    "has_fracture_condition",
    "prefetch_templates",
    "query_for",
    "unsatisfied",
]

FHIR_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""A FHIR resource id (R4 ``id`` datatype)."""

MAX_PAGES: Final = 20
"""The most pages of one search vertaid reads from a FHIR server."""

_PATIENT: Final = "{{context.patientId}}"


def _codes(codes: Iterable[tuple[str, str]]) -> str:
    """A token search's value naming every code (``system|code,system|code``), escaped for a URL."""
    return ",".join(quote(f"{system}|{code}", safe=":/") for system, code in sorted(set(codes)))


def prefetch_templates() -> dict[str, str]:
    """The prefetch templates, key by key, made from the FHIR mapping's own tables."""
    from vertaid.fhir import _terms as terms

    observation_codes = [(code.system, code.code) for mapping in terms.OBSERVATIONS for code in mapping.codes]
    care_codes = [(care.code.system, care.code.code) for care in terms.CARE]
    referral_codes = [(code.system, code.code) for referral in terms.REFERRALS for code in referral.codes]
    assert not any(code.prefix for mapping in terms.OBSERVATIONS for code in mapping.codes), (
        "a token search matches whole codes only"
    )
    return {
        "patient": f"Patient/{_PATIENT}",
        "encounters": f"Encounter?patient={_PATIENT}&status=in-progress,arrived,triaged,onleave",
        "conditions": f"Condition?patient={_PATIENT}",
        "observations": f"Observation?patient={_PATIENT}&code={_codes(observation_codes)}",
        "allergies": f"AllergyIntolerance?patient={_PATIENT}",
        "medicationStatements": f"MedicationStatement?patient={_PATIENT}&status=active,on-hold,not-taken",
        "medicationRequests": f"MedicationRequest?patient={_PATIENT}&status=active,on-hold",
        "procedures": f"Procedure?patient={_PATIENT}&code={_codes(care_codes)}",
        "serviceRequests": (
            f"ServiceRequest?patient={_PATIENT}&status=active,on-hold,completed"
            f"&code={_codes([*care_codes, *referral_codes])}"
        ),
        "coverage": f"Coverage?patient={_PATIENT}&status=active",
    }


PREFETCH: Final = prefetch_templates()
"""The prefetch templates every vertaid service declares."""


def query_for(key: str, patient_id: str) -> str:
    """The FHIR query of one prefetch key for this patient (the patient id is a checked FHIR id)."""
    return PREFETCH[key].replace(_PATIENT, patient_id)


def _paged(value: Mapping[str, Any]) -> bool:
    links = value.get("link")
    return isinstance(links, list) and any(
        isinstance(link, dict) and link.get("relation") == "next" for link in links
    )


def unsatisfied(prefetch: Mapping[str, Any]) -> list[str]:
    """The prefetch keys a client did not satisfy: absent, an OperationOutcome (the client could not
    fetch it), or a Bundle with more pages than it sent."""
    missing = []
    for key in PREFETCH:
        if key not in prefetch:
            missing.append(key)
            continue
        value = prefetch[key]
        if isinstance(value, dict) and (
            value.get("resourceType") == "OperationOutcome"
            or (value.get("resourceType") == "Bundle" and _paged(value))
        ):
            missing.append(key)
    return missing


def has_fracture_condition(data: Mapping[str, Any]) -> bool:
    """Whether the data hold a Condition coded as a vertebral fracture (whatever its status): a patient
    without one is not a patient vertaid speaks about."""
    from vertaid.fhir import _terms as terms

    fracture_codes = [code for code, _ in terms.FRACTURE_CODES]
    for resource in _resources(data.values()):
        if resource.get("resourceType") != "Condition":
            continue
        code = resource.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        for coding in codings if isinstance(codings, list) else []:
            if isinstance(coding, dict) and any(
                known.matches(coding.get("system"), coding.get("code")) for known in fracture_codes
            ):
                return True
    return False


def _resources(values: Iterable[object]) -> Iterable[dict[str, Any]]:
    for value in values:
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            entries = value.get("entry")
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield entry["resource"]
        else:
            yield value


# -- fetching ----------------------------------------------------------------------------------------


@dataclass
class FetchFailed(Exception):
    """A prefetch key could not be fetched from the FHIR server; ``reason`` never holds the token."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


def _same_server(url: str, server: str) -> bool:
    """Whether ``url`` is on the FHIR server (the token is sent nowhere else)."""
    target, base = urlsplit(url), urlsplit(server)
    return (target.scheme, target.netloc) == (base.scheme, base.netloc) and target.path.startswith(
        base.path.rstrip("/") + "/"
    )


async def _get(client: httpx.AsyncClient, url: str, key: str) -> httpx.Response:
    import httpx

    try:
        return await client.get(url)
    except httpx.HTTPError as error:
        raise FetchFailed(key, f"the FHIR server did not answer ({type(error).__name__})") from None


def _json(response: httpx.Response, key: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise FetchFailed(key, "the FHIR server's answer is not JSON") from None


async def _fetch_one(client: httpx.AsyncClient, server: str, key: str, query: str) -> Any:
    url = f"{server.rstrip('/')}/{query}"
    response = await _get(client, url, key)
    if "?" not in query:  # a read: "no data" is null (CDS Hooks §prefetch)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise FetchFailed(key, f"the FHIR server answered {response.status_code}")
        return _json(response, key)
    if response.status_code != 200:
        raise FetchFailed(key, f"the FHIR server answered {response.status_code}")
    bundle = _json(response, key)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FetchFailed(key, "the FHIR server's search answer is not a Bundle")
    entries = list(bundle.get("entry") or [])
    page = bundle
    for _ in range(MAX_PAGES - 1):
        links: list[Any] = page["link"] if isinstance(page.get("link"), list) else []
        following = next(
            (link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"),
            None,
        )
        if not isinstance(following, str):
            break
        if not _same_server(following, server):
            raise FetchFailed(key, "a next link points away from the FHIR server")
        response = await _get(client, following, key)
        if response.status_code != 200:
            raise FetchFailed(key, f"the FHIR server answered {response.status_code} for a next page")
        page = _json(response, key)
        if not isinstance(page, dict) or page.get("resourceType") != "Bundle":
            raise FetchFailed(key, "a next page is not a Bundle")
        entries.extend(page.get("entry") or [])
    else:
        raise FetchFailed(key, f"the search has more than {MAX_PAGES} pages")
    whole = {key: value for key, value in bundle.items() if key not in ("link", "entry")}
    if entries:
        whole["entry"] = entries
    return whole


async def fetch(
    keys: Iterable[str], patient_id: str, server: str, access_token: str, settings: CdsSettings
) -> dict[str, Any]:
    """Fetch the prefetch ``keys`` for this patient from the FHIR server, all at once.

    Raises:
        FetchFailed: for the first key that could not be fetched.
    """
    import httpx

    if not is_allowed_url(server):
        raise FetchFailed("fhirServer", "is not an https URL")
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"}
    async with httpx.AsyncClient(
        transport=settings.transport, timeout=settings.fetch_seconds, headers=headers, follow_redirects=False
    ) as client:
        wanted = list(keys)
        # Every fetch is waited for, even after one fails, so that none runs on once the client is closed.
        results = await asyncio.gather(
            *(_fetch_one(client, server, key, query_for(key, patient_id)) for key in wanted),
            return_exceptions=True,
        )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return dict(zip(wanted, results, strict=True))
