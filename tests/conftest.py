"""Test configuration: collects the YAML policy cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_cases import PolicyCaseFile

_CASES = Path(__file__).parent / "policy" / "cases"


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect every YAML file of policy cases."""
    if file_path.suffix == ".yaml" and file_path.parent == _CASES:
        return PolicyCaseFile.from_parent(parent, path=file_path)
    return None
