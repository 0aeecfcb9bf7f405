"""The CDS Hooks cards' words (``cds.yaml``): their schema, their cross-checks, their typed form.

Besides its shape, the loader checks that the file is whole and keeps to CDS Hooks 2.0.1:

- every source it cites is in the bibliography;
- one service per hook the service answers, with distinct ids usable in a URL;
- every order code names a procedure, and its counterpart is a code of the other procedure;
- every card kind is there, with an indicator CDS Hooks knows, for every decision it can be shown for;
- every summary, filled with the longest value each of its placeholders can take, is under 140
  characters, and names no placeholder its card does not fill;
- every override reason a card offers is one of the listed codes, each with its display.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from vertaid.domain._shapes import Field, Integer, ListOf, MappingOf, Record, Shape, Text
from vertaid.domain.case import LEVELS
from vertaid.domain.pack import CdsCard, CdsService, CdsWording, OrderCode, Step

__all__ = [
    "AUGMENTATION",
    "CARD_KINDS",
    "CDS_FILE",
    "HOOKS",
    "INDICATORS",
    "LABELS",
    "MAX_SUMMARY",
    "build_cds_wording",
    "cds_shape",
]

CDS_FILE: Final = "cds.yaml"

HOOKS: Final = ("patient-view", "order-select", "order-sign")
"""The hooks vertaid answers (CDS Hooks Library 1.0.1), one service each."""

INDICATORS: Final = ("info", "warning", "critical")
"""CDS Hooks 2.0.1 card indicators, in increasing urgency."""

MAX_SUMMARY: Final = 139
"""CDS Hooks 2.0.1: a card's summary is a "<140-character" sentence."""

AUGMENTATION: Final = ("kyphoplasty", "vertebroplasty")
"""The procedures an order may be for (and the decisions that favour one of them)."""

_EITHER: Final = "either"
_MAX_FRACTURES: Final = 17
"""The most fractures a case holds (CONTRACT §2), so the most target levels a summary may count."""

LABELS: Final = (
    "why",
    "missing",
    "cautions",
    "coverage_unmet",
    "problems",
    "decision_aid_link",
    "clinician_link",
    "knowledge",
)
"""The headings and link labels a card's detail uses."""

_ORDER_TERMS: Final = ("ordered", "levels")
CARD_KINDS: Final[Mapping[str, tuple[str, ...]]] = {
    "recommendation": ("levels", "strength"),
    "order_agrees": _ORDER_TERMS,
    "order_other_favoured": (*_ORDER_TERMS, "favoured", "strength"),
    "order_not_yet": ("ordered", "advice"),
    "order_critical": ("ordered",),
    "coverage_unmet": ("ordered", "count", "total"),
    "unreadable": (),
    "order_unreadable": ("ordered",),
}
"""Every kind of card, with the placeholders its summary and suggestion may use."""

_WITH_SUGGESTION: Final = ("order_other_favoured", "order_not_yet", "order_critical")
_WITH_OVERRIDES: Final = (*_WITH_SUGGESTION, "coverage_unmet")
_PLACEHOLDER: Final = re.compile(r"\{([a-z_]+)\}")
_BRACE: Final = re.compile(r"[{}]")

_TEXT: Final = Text(non_blank=True)
_IDS: Final = ListOf(Text(non_blank=True), min_items=1, distinct=True)
_SERVICE_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _required(shape: Shape) -> Field:
    return Field(shape, required=True)


def _optional(shape: Shape) -> Field:
    return Field(shape)


def cds_shape() -> Record:
    """The shape of ``cds.yaml``."""
    card = Record(
        {
            "indicator": _optional(_TEXT),
            "summary": _optional(_TEXT),
            "indicators": _optional(MappingOf(_TEXT, min_items=1)),
            "summaries": _optional(MappingOf(_TEXT, min_items=1)),
            "suggestion": _optional(_TEXT),
            "override_reasons": _optional(_IDS),
        }
    )
    return Record(
        {
            "sources": _required(_IDS),
            "source_label": _required(_TEXT),
            "services": _required(
                MappingOf(
                    Record(
                        {
                            "id": _required(_TEXT),
                            "title": _required(_TEXT),
                            "description": _required(_TEXT),
                        }
                    ),
                    min_items=1,
                )
            ),
            "orders": _required(
                Record(
                    {
                        "system": _required(_TEXT),
                        "sources": _required(_IDS),
                        "status": _required(_TEXT),
                        "codes": _required(
                            MappingOf(
                                Record(
                                    {
                                        "procedure": _required(_TEXT),
                                        "counterpart": _required(_TEXT),
                                        "display": _required(_TEXT),
                                    }
                                ),
                                min_items=1,
                            )
                        ),
                    }
                )
            ),
            "critical_steps": _required(_IDS),
            "procedures": _required(MappingOf(_TEXT, min_items=1)),
            "advice": _required(MappingOf(_TEXT, min_items=1)),
            "strengths": _required(MappingOf(_TEXT, min_items=1)),
            "levels": _required(
                Record(
                    {
                        "listed": _required(Integer(1, _MAX_FRACTURES)),
                        "more": _required(_TEXT),
                        "joined_by": _required(Text()),
                        "last_joined_by": _required(Text()),
                    }
                )
            ),
            "override_reasons": _required(
                Record(
                    {
                        "system": _required(_TEXT),
                        "sources": _required(_IDS),
                        "codes": _required(MappingOf(_TEXT, min_items=1)),
                    }
                )
            ),
            "cards": _required(MappingOf(card, min_items=1)),
            "labels": _required(MappingOf(_TEXT, min_items=1)),
        }
    )


Cite = Callable[[Iterable[str], str], tuple[str, ...]]
Fail = Callable[[str, str], None]


class _CdsBuilder:
    """Builds the :class:`CdsWording`, reporting each problem with its path in the file."""

    def __init__(
        self,
        document: Mapping[str, Any],
        cite: Cite,
        fail: Fail,
        decisions: Sequence[str],
        steps: Sequence[Step],
        strengths: Sequence[str],
    ) -> None:
        self.document = document
        self.cite = cite
        self.fail = fail
        self.decisions = tuple(decisions)
        self.steps = {step.id: step.decision for step in steps}
        self.strength_names = tuple(strengths)

    def where(self, path: str) -> str:
        return f"{CDS_FILE}: {path}"

    def exactly(self, given: Collection[str], expected: Collection[str], path: str, noun: str) -> None:
        for key in given:
            if key not in expected:
                self.fail(self.where(f"{path}.{key}"), f"is not {noun}")
        for key in expected:
            if key not in given:
                self.fail(self.where(path), f"has nothing for {key!r}")

    # -- sections -----------------------------------------------------------------------------

    def services(self) -> tuple[CdsService, ...]:
        given: Mapping[str, Mapping[str, str]] = self.document["services"]
        self.exactly(given, HOOKS, "services", "a hook vertaid answers")
        seen: set[str] = set()
        services = []
        for hook, entry in given.items():
            if _SERVICE_ID.fullmatch(entry["id"]) is None:
                self.fail(self.where(f"services.{hook}.id"), "must be lowercase letters, digits and hyphens")
            if entry["id"] in seen:
                self.fail(self.where(f"services.{hook}.id"), f"service id {entry['id']!r} is used twice")
            seen.add(entry["id"])
            services.append(CdsService(hook, entry["id"], entry["title"], entry["description"]))
        return tuple(services)

    def order_codes(self) -> dict[str, OrderCode]:
        codes: Mapping[str, Mapping[str, str]] = self.document["orders"]["codes"]
        built = {}
        for code, entry in codes.items():
            path = f"orders.codes.{code}"
            if entry["procedure"] not in AUGMENTATION:
                self.fail(self.where(f"{path}.procedure"), f"must be one of {', '.join(AUGMENTATION)}")
            counterpart = codes.get(entry["counterpart"])
            if counterpart is None:
                self.fail(self.where(f"{path}.counterpart"), f"{entry['counterpart']!r} is not a listed code")
            elif counterpart["procedure"] == entry["procedure"]:
                self.fail(self.where(f"{path}.counterpart"), "must be a code of the other procedure")
            built[code] = OrderCode(code, entry["procedure"], entry["counterpart"], entry["display"])
        return built

    def critical_steps(self) -> tuple[str, ...]:
        listed = tuple(self.document["critical_steps"])
        for i, step in enumerate(listed):
            if step not in self.steps:
                self.fail(self.where(f"critical_steps[{i}]"), f"{step!r} is not a step of the policy")
        return listed

    def card(self, kind: str, entry: Mapping[str, Any], critical_decisions: Collection[str]) -> CdsCard:
        path = f"cards.{kind}"
        indicators: Mapping[str, str] = entry.get("indicators") or {}
        summaries: Mapping[str, str] = entry.get("summaries") or {}
        # The decisions a card can be shown for: all of them for the recommendation, the critical ones
        # for the critical card; the other cards are worded alike whatever the decision.
        if kind == "recommendation":
            by_decision: Collection[str] | None = self.decisions
        elif kind == "order_critical":
            by_decision = critical_decisions
        else:
            by_decision = None
        for name, plural, given in (
            ("indicator", "indicators", indicators),
            ("summary", "summaries", summaries),
        ):
            single = entry.get(name)
            if by_decision is None:
                if given:
                    self.fail(self.where(f"{path}.{plural}"), f"give one {name} for this card")
                if single is None:
                    self.fail(self.where(path), f"has no {name}")
            elif single is None:
                self.exactly(given, by_decision, f"{path}.{plural}", "a decision this card is shown for")
            elif given:
                self.fail(self.where(path), f"give either {name} or {plural}, not both")
        for decision, indicator in (*indicators.items(), ("", entry.get("indicator"))):
            if indicator is not None and indicator not in INDICATORS:
                where = f"{path}.indicators.{decision}" if decision else f"{path}.indicator"
                self.fail(
                    self.where(where), f"{indicator!r} is not a CDS Hooks indicator ({', '.join(INDICATORS)})"
                )
        suggestion = entry.get("suggestion")
        if (suggestion is None) == (kind in _WITH_SUGGESTION):
            self.fail(
                self.where(path), "must have a suggestion" if suggestion is None else "has no suggestion"
            )
        reasons = tuple(entry.get("override_reasons") or ())
        if not reasons and kind in _WITH_OVERRIDES:
            self.fail(self.where(path), "must offer override reasons")
        known = self.document["override_reasons"]["codes"]
        for i, reason in enumerate(reasons):
            if reason not in known:
                self.fail(self.where(f"{path}.override_reasons[{i}]"), f"{reason!r} is not a listed reason")
        return CdsCard(
            indicator=entry.get("indicator"),
            summary=entry.get("summary"),
            indicators=dict(indicators),
            summaries=dict(summaries),
            suggestion=suggestion,
            override_reasons=reasons,
        )

    def build(self) -> CdsWording:
        document = self.document
        levels = document["levels"]
        procedures: Mapping[str, str] = document["procedures"]
        self.exactly(procedures, AUGMENTATION, "procedures", "a procedure an order may be for")
        self.exactly(document["strengths"], self.strength_names, "strengths", "a strength")
        self.exactly(document["labels"], LABELS, "labels", "a heading or label of a card")
        critical_steps = self.critical_steps()
        critical = {self.steps[step] for step in critical_steps if step in self.steps}
        not_yet = [
            decision
            for decision in self.decisions
            if decision not in (*AUGMENTATION, _EITHER) and decision not in critical
        ]
        self.exactly(document["advice"], not_yet, "advice", "a decision that makes an order premature")
        self.exactly(document["cards"], CARD_KINDS, "cards", "a kind of card")
        cards = {
            kind: self.card(kind, entry, critical)
            for kind, entry in document["cards"].items()
            if kind in CARD_KINDS
        }
        for code, display in document["override_reasons"]["codes"].items():
            if not display.strip():
                self.fail(self.where(f"override_reasons.codes.{code}"), "needs a display (CDS Hooks)")
        wording = CdsWording(
            sources=self.cite(document["sources"], self.where("sources")),
            source_label=document["source_label"],
            services=self.services(),
            order_system=document["orders"]["system"],
            order_codes=self.order_codes(),
            order_sources=self.cite(document["orders"]["sources"], self.where("orders.sources")),
            order_status=document["orders"]["status"],
            critical_steps=critical_steps,
            procedures=dict(procedures),
            advice=dict(document["advice"]),
            strengths=dict(document["strengths"]),
            levels_listed=levels["listed"],
            levels_more=levels["more"],
            levels_joined_by=levels["joined_by"],
            levels_last_joined_by=levels["last_joined_by"],
            override_system=document["override_reasons"]["system"],
            override_reasons=dict(document["override_reasons"]["codes"]),
            override_sources=self.cite(
                document["override_reasons"]["sources"], self.where("override_reasons.sources")
            ),
            cards=cards,
            labels=dict(document["labels"]),
        )
        self._check_levels(levels["more"])
        self._check_summaries(wording)
        return wording

    # -- summaries ----------------------------------------------------------------------------

    def _check_levels(self, more: str) -> None:
        if set(_PLACEHOLDER.findall(more)) != {"count"} or _BRACE.search(_PLACEHOLDER.sub("", more)):
            self.fail(self.where("levels.more"), "must use {count} and no other placeholder or brace")

    def _longest(self, wording: CdsWording) -> dict[str, str]:
        """The longest value each placeholder can take."""
        longest_level = max(LEVELS, key=len)
        listed = wording.levels((longest_level,) * min(wording.levels_listed, _MAX_FRACTURES))
        counted = wording.levels_more.format(count=_MAX_FRACTURES)
        procedures = wording.procedures.values()
        return {
            "levels": max(listed, counted, key=len),
            "strength": max(wording.strengths.values(), key=len),
            "ordered": max(procedures, key=len),
            "favoured": max(procedures, key=len),
            "advice": max(wording.advice.values(), key=len, default=""),
            "count": str(_MAX_FRACTURES),
            "total": str(_MAX_FRACTURES),
        }

    def _check_summaries(self, wording: CdsWording) -> None:
        longest = self._longest(wording)
        for kind, card in wording.cards.items():
            allowed = CARD_KINDS[kind]
            templates: list[tuple[str, str, tuple[str, ...]]] = []
            if card.summary is not None:
                templates.append((f"cards.{kind}.summary", card.summary, allowed))
            for decision, summary in card.summaries.items():
                # Only an augmentation decision has levels and a strength to name.
                terms = allowed if decision in (*AUGMENTATION, _EITHER) or kind != "recommendation" else ()
                templates.append((f"cards.{kind}.summaries.{decision}", summary, terms))
            if card.suggestion is not None:
                templates.append((f"cards.{kind}.suggestion", card.suggestion, allowed))
            for path, template, terms in templates:
                self._check_template(path, template, terms, longest, is_summary=".suggestion" not in path)

    def _check_template(
        self, path: str, template: str, terms: tuple[str, ...], longest: Mapping[str, str], is_summary: bool
    ) -> None:
        if _BRACE.search(_PLACEHOLDER.sub("", template)):
            self.fail(self.where(path), "has a brace that is not a placeholder")
            return
        unknown = sorted({name for name in _PLACEHOLDER.findall(template) if name not in terms})
        if unknown:
            self.fail(self.where(path), f"names placeholders its card does not fill: {', '.join(unknown)}")
            return
        filled = template.format(**{name: longest[name] for name in terms})
        if is_summary and len(filled) > MAX_SUMMARY:
            self.fail(
                self.where(path),
                f"is {len(filled)} characters long with the longest values filled in "
                f"({filled!r}); CDS Hooks asks for fewer than 140",
            )


def build_cds_wording(
    document: Mapping[str, Any],
    *,
    cite: Cite,
    fail: Fail,
    decisions: Sequence[str],
    steps: Sequence[Step],
    strengths: Sequence[str],
) -> CdsWording:
    """Build the CDS Hooks wording from its checked document, reporting cross-reference problems to
    ``fail``.

    Args:
        document: ``cds.yaml``, already checked against its shape.
        cite: checks source ids against the bibliography and returns them.
        fail: records a problem (path, message).
        decisions: every decision an assessment can make.
        steps: the policy's steps (the critical ones are named by id).
        strengths: the strengths of a recommendation.
    """
    return _CdsBuilder(document, cite, fail, decisions, steps, strengths).build()
