"""The readable summary of an assessment for a clinician, printed with Rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = ["render_assessment"]

_DECISION_LABELS = {
    "kyphoplasty": "Kyphoplasty",
    "vertebroplasty": "Vertebroplasty",
    "either": "Either kyphoplasty or vertebroplasty",
    "conservative_care": "Non-surgical care",
    "further_workup": "Further work-up",
    "surgical_consultation": "Surgical consultation",
    "not_a_candidate": "Not a candidate for augmentation",
}


def _none(value: object) -> str:
    return "—" if value is None else str(value)


def render_assessment(assessment: dict[str, Any], console: Console) -> None:
    """Print the decision, its reasons, what is missing, the LCD check, the scores and the caveat."""
    decision = _DECISION_LABELS.get(assessment["decision"], assessment["decision"])
    head = Text(decision, style="bold")
    if assessment["strength"] is not None:
        head.append(f"  ({assessment['strength']}, factor score {assessment['score']:+d})")
    lines: list[Any] = [head, Text(assessment["summary"])]
    targets = ", ".join(assessment["target_levels"]) or "none"
    lines.append(Text(f"Target levels: {targets}"))
    title = f"vertaid assessment {assessment['case_id'] or ''}".rstrip()
    console.print(Panel(Group(*lines), title=title, expand=False))

    findings = Table(title="Findings", show_lines=False, expand=False)
    for column in ("rule", "step", "finding", "weight", "sources"):
        findings.add_column(column)
    for finding in assessment["findings"]:
        levels = f" [{', '.join(finding['levels'])}]" if finding.get("levels") else ""
        weight = "" if finding["weight"] is None else f"{finding['weight']:+d}"
        findings.add_row(
            finding["rule"], finding["step"], finding["text"] + levels, weight, "; ".join(finding["sources"])
        )
    console.print(findings)

    if assessment["missing"]:
        missing = Table(title="Missing facts that would change the result", expand=False)
        missing.add_column("field")
        missing.add_column("if it were")
        missing.add_column("why it matters")
        for entry in assessment["missing"]:
            outcomes = "\n".join(
                f"{o['when']}: {o['decision']}" + ("" if o["score"] is None else f" ({o['score']:+d})")
                for o in entry["outcomes"]
            )
            missing.add_row(entry["field"], outcomes, entry["why"])
        console.print(missing)

    fractures = Table(title="Fractures", expand=False)
    for column in ("level", "acuity", "height loss %", "Genant", "type", "AO OF", "OF score"):
        fractures.add_column(column)
    for fracture in assessment["fractures"]:
        fractures.add_row(
            fracture["level"],
            fracture["acuity"],
            _none(fracture["height_loss_percent"]),
            _none(fracture["genant_grade"]),
            _none(fracture["deformity_type"]),
            _none(fracture["ao_of_class"]),
            _none(fracture["ao_of_score"]),
        )
    console.print(fractures)
    reading = assessment["ao_of_score_reading"]
    console.print(
        f"AO Spine OF score (case): {_none(assessment['ao_of_score'])}"
        + (f" — reads {reading}; not validated, reported only" if reading else "")
    )

    lcd = assessment["coverage"]["medicare_lcd"]
    console.print(Text("Medicare LCD L34228: " + ("met" if lcd["met"] else "not met"), style="bold"))
    for item in lcd["unmet"]:
        console.print(f"  unmet: {item}")
    for caution in assessment["cautions"]:
        console.print(f"Caution ({caution['rule']}): {caution['text']}")
    for conflict in assessment["conflicts"]:
        console.print(f"Sources disagree — {conflict['topic']}: {conflict['resolution']}")
    if "reevaluate" in assessment:
        again = assessment["reevaluate"]
        console.print(
            f"Re-evaluate after {again['after_weeks_of_care']} weeks of non-surgical care "
            f"({again['weeks_from_now']:g} weeks from now)."
        )
    console.print(Text("Evidence: " + assessment["evidence_caveat"]["text"], style="italic"))
    knowledge = assessment["knowledge"]
    console.print(f"Knowledge pack {knowledge['id']} {knowledge['version']}, sha256 {knowledge['digest']}")
