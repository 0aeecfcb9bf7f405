"""The worked vignettes of the specification, checked on every expected field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vertaid import assess

VIGNETTES = sorted((Path(__file__).parent / "vignettes").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    vignette: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vignette


def test_every_vignette_is_present() -> None:
    """The twenty public vignettes are in the project, so the suite never silently shrinks."""
    assert 20 == len(VIGNETTES)


@pytest.mark.parametrize("path", VIGNETTES, ids=[path.stem for path in VIGNETTES])
def test_vignette_gives_the_expected_assessment(path: Path) -> None:
    """The policy gives each vignette its expected decision, strength, score, levels and scores."""
    vignette = _load(path)
    assessment = assess(vignette["case"])

    for key, expected in vignette["expected"].items():
        if key == "fractures":
            actual = [
                {member: fracture[member] for member in want}
                for want, fracture in zip(expected, assessment["fractures"], strict=True)
            ]
        else:
            actual = assessment[key]
        assert expected == actual, key
