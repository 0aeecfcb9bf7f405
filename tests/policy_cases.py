"""A pytest plugin that runs the policy cases written in YAML (``tests/policy/cases/*.yaml``).

Each case is written in the policy's own words so that a clinician can review it: a base case from
``tests/policy/bases.yaml``, the facts that differ (``given``, dotted paths such as ``pain.nrs`` or
``fractures[0].height_loss_percent``; ``~`` makes a fact unknown) and what the policy must conclude
(``expect``). Modelled on OpenFisca's YAML tests.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertaid import assess

__all__ = ["PolicyCaseFile", "apply_given", "check_expectations"]

_BASES_FILE = Path(__file__).parent / "policy" / "bases.yaml"
_STEP = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")


def _load_bases() -> dict[str, Any]:
    with _BASES_FILE.open(encoding="utf-8") as handle:
        bases: dict[str, Any] = yaml.safe_load(handle)
    return bases


def apply_given(case: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``case`` with each dotted path set (``None`` removes the member)."""
    result = copy.deepcopy(case)
    for path, value in given.items():
        steps = [_STEP.fullmatch(part) for part in path.split(".")]
        if any(step is None for step in steps):
            raise ValueError(f"bad path in given: {path!r}")
        node: Any = result
        for position, match in enumerate(steps):
            assert match is not None
            name, index = match.group(1), match.group(2)
            last = position == len(steps) - 1
            if index is None:
                if last:
                    if value is None:
                        node.pop(name, None)
                    else:
                        node[name] = copy.deepcopy(value)
                else:
                    node = node.setdefault(name, {})
                continue
            items = node.setdefault(name, [])
            position_in_list = int(index)
            if last:
                if position_in_list == len(items):
                    items.append(copy.deepcopy(value))
                elif value is None:
                    del items[position_in_list]
                else:
                    items[position_in_list] = copy.deepcopy(value)
            else:
                node = items[position_in_list]
    return result


def check_expectations(assessment: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """Return a line for each expectation the assessment does not meet."""
    failures: list[str] = []
    fired = {finding["rule"] for finding in assessment["findings"]}
    for key, expected in expect.items():
        if key in ("decision", "strength", "score", "target_levels", "ao_of_score"):
            actual = assessment[key]
            if actual != expected:
                failures.append(f"{key}: expected {expected!r}, got {actual!r}")
        elif key == "fired":
            missing = [rule for rule in expected if rule not in fired]
            if missing:
                failures.append(f"fired: expected {missing} among {sorted(fired)}")
        elif key == "not_fired":
            present = [rule for rule in expected if rule in fired]
            if present:
                failures.append(f"not_fired: {present} fired")
        elif key == "fractures":
            actual_fractures = assessment["fractures"]
            if len(actual_fractures) < len(expected):
                failures.append(f"fractures: expected {len(expected)}, got {len(actual_fractures)}")
            for index, (want, got) in enumerate(zip(expected, actual_fractures, strict=False)):
                for member, value in want.items():
                    if got.get(member) != value:
                        failures.append(
                            f"fractures[{index}].{member}: expected {value!r}, got {got.get(member)!r}"
                        )
        elif key == "coverage_met":
            actual = assessment["coverage"]["medicare_lcd"]["met"]
            if actual != expected:
                failures.append(f"coverage_met: expected {expected!r}, got {actual!r}")
        elif key == "coverage_unmet":
            items = assessment["coverage"]["medicare_lcd"]["items"]
            unmet = sorted(item["id"] for item in items if not item["met"])
            if unmet != sorted(expected):
                failures.append(f"coverage_unmet: expected {sorted(expected)}, got {unmet}")
        elif key == "cautions":
            cautions = sorted(caution["rule"] for caution in assessment["cautions"])
            if cautions != sorted(expected):
                failures.append(f"cautions: expected {sorted(expected)}, got {cautions}")
        elif key == "missing_includes":
            listed = {entry["field"] for entry in assessment["missing"]}
            absent = [field for field in expected if field not in listed]
            if absent:
                failures.append(f"missing_includes: {absent} not among {sorted(listed)}")
        else:
            failures.append(f"unknown expectation {key!r}")
    return failures


class PolicyCaseFile(pytest.File):
    """A YAML file of policy cases."""

    def collect(self) -> Iterator[pytest.Item]:
        document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        bases = _load_bases()
        default_base = document.get("base")
        for entry in document["cases"]:
            yield PolicyCase.from_parent(
                self, name=entry["name"], entry=entry, bases=bases, base=default_base
            )


class PolicyCase(pytest.Item):
    """One policy case: a base, the facts that differ, and what the policy must conclude."""

    def __init__(
        self, *, entry: dict[str, Any], bases: dict[str, Any], base: str | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.bases = bases
        self.base = entry.get("base", base)

    def build_case(self) -> dict[str, Any]:
        """Return the case this entry describes."""
        if "case" in self.entry:
            return copy.deepcopy(self.entry["case"])
        if self.base not in self.bases:
            raise ValueError(f"unknown base {self.base!r}")
        return apply_given(self.bases[self.base], self.entry.get("given") or {})

    def runtest(self) -> None:
        assessment = assess(self.build_case())
        failures = check_expectations(assessment, self.entry["expect"])
        if failures:
            raise PolicyCaseFailure(failures)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PolicyCaseFailure):
            return f"{self.name}\n  " + "\n  ".join(excinfo.value.failures)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"policy case: {self.name}"


class PolicyCaseFailure(AssertionError):
    """The assessment of a policy case does not meet its expectations."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("\n".join(failures))
