"""CDS Hooks patient-view latency: signed calls with a realistic prefetch of 200 resources.

The prefetch is the kyphoplasty example (examples/fhir/02-collapse-over-30.json, 15 resources) with the
rest of a patient's record around it: a year of weekly pain scores, past encounters, other diagnoses,
medicines, allergies and procedures (185 more resources, none of which changes the case). `vertaid
serve` runs in a process of its own on a loopback port over a fresh SQLite store, trusting the bench's
issuer (VERTAID_CDS_ISSUERS); each call carries its own ES384 token (signed before the clock starts),
so every call does the whole work: the JWT check and replay record, reading the 200 resources as FHIR
R4, the assessment, storing it with its audit record, and the card. (The server's clock is today's,
so ages and weeks count from today: the card still comes from a complete assessment.)

    .venv/bin/python bench/cds_patient_view.py [--calls 300]

Prints p50, p90, p99 and the slowest call, in milliseconds (the issue's target: p99 under 100 ms).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from vertaid.cds import PREFETCH

ROOT: Final = Path(__file__).resolve().parent.parent
EXAMPLE: Final = ROOT / "examples" / "fhir" / "02-collapse-over-30.json"
ISSUER: Final = "https://ehr.example.org"
RESOURCES: Final = 200
WARM_UP: Final = 20
REFERENCE: Final = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
PREFETCH_KEY_OF: Final = {query.partition("?")[0]: key for key, query in PREFETCH.items() if "?" in query}
_PATIENT: Final = {"reference": "Patient/patient"}
_ACTIVE: Final = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
}
_AMBULATORY: Final = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
_ALLERGY_RESOLVED: Final = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "resolved"}
    ]
}


def _history(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The rest of the record: resources of the kinds the prefetch asks for that do not change the case
    (older pain scores, finished encounters, diagnoses, medicines and allergies named by text only)."""
    pain = next(e["resource"] for e in example["entry"] if e["resource"].get("id") == "72514-3")
    extra: list[dict[str, Any]] = []
    for week in range(1, 61):  # weekly pain scores before today's
        score = copy.deepcopy(pain)
        score["id"] = f"nrs-week-{week}"
        score["effectiveDateTime"] = (REFERENCE - timedelta(weeks=week)).isoformat()
        score["valueInteger"] = 4 + week % 5
        extra.append(score)
    kinds: list[tuple[int, str, str, dict[str, Any]]] = [
        (40, "Condition", "Other chronic condition", {"clinicalStatus": _ACTIVE, "subject": _PATIENT}),
        (30, "Encounter", "", {"status": "finished", "class": _AMBULATORY, "subject": _PATIENT}),
        (30, "MedicationStatement", "Other medicine", {"status": "active", "subject": _PATIENT}),
        (
            15,
            "AllergyIntolerance",
            "Other allergy",
            {"clinicalStatus": _ALLERGY_RESOLVED, "patient": _PATIENT},
        ),
        (10, "Procedure", "Other procedure", {"status": "completed", "subject": _PATIENT}),
    ]
    for count, kind, text, members in kinds:
        for n in range(count):
            resource: dict[str, Any] = {"resourceType": kind, "id": f"{kind.lower()}-{n}", **members}
            if kind == "MedicationStatement":
                resource["medicationCodeableConcept"] = {"text": f"{text} {n}"}
            elif kind == "Procedure":
                resource["code"] = {"text": f"{text} {n}"}
                resource["performedDateTime"] = (REFERENCE - timedelta(days=400 + n)).isoformat()
            elif text:
                resource["code"] = {"text": f"{text} {n}"}
            extra.append(resource)
    return extra


def realistic_prefetch() -> dict[str, Any]:
    """The prefetch of a 200-resource record, as a CDS Hooks client sends it."""
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in example["entry"]] + _history(example)
    resources = resources[:RESOURCES]
    assert len(resources) == RESOURCES, len(resources)
    prefetch: dict[str, Any] = {
        key: {"resourceType": "Bundle", "type": "searchset"} for key in PREFETCH_KEY_OF.values()
    }
    for resource in resources:
        if resource["resourceType"] == "Patient":
            prefetch["patient"] = resource
            continue
        search = prefetch[PREFETCH_KEY_OF[resource["resourceType"]]]
        search.setdefault("entry", []).append({"resource": resource})
    return prefetch


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(folder: Path, jwks: Path, port: int) -> subprocess.Popen[bytes]:
    """`vertaid serve` in a process of its own, trusting the bench's issuer; returns once it answers."""
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "VERTAID_DATABASE_URL": f"sqlite:///{folder / 'vertaid.db'}",
        "VERTAID_CDS_ISSUERS": json.dumps({ISSUER: str(jwks)}),
        "VERTAID_CDS_BASE_URL": base,
    }
    command = [str(Path(sys.executable).parent / "vertaid"), "serve", "--port", str(port), "--no-access-log"]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("vertaid serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls (after 20 to warm up)")
    arguments = parser.parse_args()

    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as name:
        folder = Path(name)
        jwks = folder / "jwks.json"
        jwks.write_text(json.dumps({"keys": [{**public, "kid": "bench", "alg": "ES384"}]}), encoding="utf-8")
        port = _free_port()
        server = _serve(folder, jwks, port)
        url = f"http://127.0.0.1:{port}/cds-services/vertaid-patient-view"
        body = json.dumps(
            {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/example", "patientId": "patient"},
                "prefetch": realistic_prefetch(),
            }
        ).encode("utf-8")
        now = int(time.time())
        tokens = [
            jwt.encode(
                {"iss": ISSUER, "aud": url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
                key,
                algorithm="ES384",
                headers={"kid": "bench", "typ": "JWT"},
            )
            for _ in range(WARM_UP + arguments.calls)
        ]
        timings = []
        try:
            with httpx.Client(timeout=30) as client:
                for index, token in enumerate(tokens):
                    started = time.perf_counter()
                    response = client.post(
                        url,
                        content=body,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200 or len(response.json()["cards"]) != 1:
                        raise SystemExit(
                            f"call {index} answered {response.status_code}: {response.text[:200]}"
                        )
                    if index >= WARM_UP:
                        timings.append(elapsed)
        finally:
            server.terminate()
            server.wait(timeout=30)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    print(
        f"patient-view, {RESOURCES}-resource prefetch ({len(body) // 1024} KiB), "
        f"{len(timings)} calls over HTTP to vertaid serve: p50 {cuts[49]:.1f} ms, p90 {cuts[89]:.1f} ms, "
        f"p99 {cuts[98]:.1f} ms, slowest {max(timings):.1f} ms"
    )


if __name__ == "__main__":
    main()
