"""Write docs/fhir-mapping.md and one example Bundle per public vignette (examples/fhir/).

.venv/bin/python scripts/fhir_generate.py

Both come from the package (the mapping tables and ``case_to_bundle``); tests/test_fhir_examples.py fails
when a committed file differs from what this script writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from vertaid.fhir import case_to_bundle
from vertaid.fhir._doc import mapping_markdown

ROOT: Final = Path(__file__).resolve().parent.parent
AS_OF: Final = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
"""The examples' reference time (Bundle.timestamp): a fixed date, so the files never change by themselves."""


def bundle_text(bundle: dict[str, object]) -> str:
    """An example Bundle as it is committed."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    (ROOT / "docs" / "fhir-mapping.md").write_text(mapping_markdown(), encoding="utf-8")
    target = ROOT / "examples" / "fhir"
    target.mkdir(exist_ok=True)
    for path in sorted((ROOT / "tests" / "vignettes").glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))["case"]
        (target / path.name).write_text(bundle_text(case_to_bundle(case, AS_OF)), encoding="utf-8")
        print(f"wrote examples/fhir/{path.name}")
    print("wrote docs/fhir-mapping.md")


if __name__ == "__main__":
    main()
