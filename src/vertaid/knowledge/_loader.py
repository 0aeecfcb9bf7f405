"""Loading a knowledge pack: read the YAML files, check them against their schema, build the pack.

A pack loads only when it is whole: every file present and of the right shape, every source id cited
defined in the bibliography, every parameter in force at the pack's effective date, every condition
well formed. Otherwise :class:`InvalidPack` lists every problem, each with its file and path.

The digest is the sha256 of the pack's content in canonical JSON (sorted keys), so it changes with any
change of meaning and not with comments or layout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

import yaml

from vertaid.domain._shapes import (
    ROOT,
    Choice,
    Field,
    Integer,
    ListOf,
    MappingOf,
    Number,
    Problem,
    Record,
    Shape,
    Text,
)
from vertaid.domain.conditions import Condition, ConditionError, compile_condition
from vertaid.domain.facts import ACUITY_VALUES, FACTS
from vertaid.domain.pack import (
    AftercareItem,
    AoSpinePolicy,
    ChoicePolicy,
    Classification,
    Conflict,
    DecisionWording,
    EvidenceCaveat,
    KnowledgePack,
    MorphometryPolicy,
    Outcome,
    Parameter,
    Rule,
    Source,
    Step,
    UnverifiedClaim,
    Wording,
)
from vertaid.knowledge._cds import CDS_FILE, build_cds_wording, cds_shape
from vertaid.knowledge._decision_aid import (
    DECISION_AID_FILE,
    STRENGTHS,
    build_decision_aid,
    decision_aid_shape,
)

__all__ = [
    "DEFAULT_PACK",
    "PACK_FILES",
    "InvalidPack",
    "default_pack",
    "digest_of",
    "load_pack",
    "pack_json_schema",
]

DEFAULT_PACK: Final = "vcf-v1"

PACK_FILES: Final = (
    "pack.yaml",
    "sources.yaml",
    "parameters.yaml",
    "policy.yaml",
    "reports.yaml",
    "scores.yaml",
    "outcomes.yaml",
    "conflicts.yaml",
    "aftercare.yaml",
    "caveats.yaml",
    "facts.yaml",
    "decisions.yaml",
    DECISION_AID_FILE,
    CDS_FILE,
)

DECISIONS: Final = (
    "kyphoplasty",
    "vertebroplasty",
    "either",
    "conservative_care",
    "further_workup",
    "surgical_consultation",
    "not_a_candidate",
)
OPTIONS: Final = ("kyphoplasty", "vertebroplasty", "conservative_care")
PSEUDO_RULES: Final = ("augmentation", "any")


class InvalidPack(ValueError):
    """The knowledge pack does not load; ``problems`` are ``(file: path, message)`` pairs."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"the knowledge pack does not load:\n{listed}")


@dataclass(frozen=True)
class _Anything(Shape):
    """Any value; checked later by the part of the loader that understands it (conditions)."""

    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        return value

    def json_schema(self) -> dict[str, Any]:
        return self._with_description({})


def _required(shape: Shape) -> Field:
    return Field(shape, required=True)


def _optional(shape: Shape) -> Field:
    return Field(shape)


_TEXT: Final = Text(non_blank=True)
_IDS: Final = ListOf(Text(non_blank=True), min_items=1, distinct=True)
_ANY: Final = _Anything()
_PARAM_REF: Final = Record({"param": _required(_TEXT)})

_PACK_INFO: Final = Record(
    {
        "id": _required(_TEXT),
        "title": _required(_TEXT),
        "version": _required(_TEXT),
        "policy_version": _required(Integer(1)),
        "effective_date": _required(_TEXT),
        "publisher": _required(_TEXT),
        "update_policy": _required(_TEXT),
        "funding": _required(_TEXT),
    }
)
_SOURCE: Final = Record(
    {
        "kind": _required(
            Choice(
                (
                    "patient_article",
                    "clinic_article",
                    "payer_policy",
                    "guideline",
                    "pathway",
                    "trial",
                    "meta_analysis",
                    "cohort_study",
                    "score",
                    "data_standard",
                    "appropriateness_criteria",
                    "instrument",
                    "decision_aid_standard",
                )
            )
        ),
        "title": _required(_TEXT),
        "citation": _required(_TEXT),
        "year": _optional(Integer(1900, 2100)),
        "url": _optional(_TEXT),
        "note": _optional(_TEXT),
    }
)
_PARAMETER: Final = Record(
    {
        "description": _required(_TEXT),
        "unit": _required(_TEXT),
        "values": _required(
            ListOf(Record({"since": _required(_TEXT), "value": _required(_ANY)}), min_items=1)
        ),
        "sources": _required(_IDS),
    }
)
_RULE_FIELDS: Final = {
    "id": _required(_TEXT),
    "text": _required(_TEXT),
    "sources": _required(_IDS),
    "when": _required(_ANY),
}
_RULE: Final = Record(_RULE_FIELDS)
_DEFINITION: Final = Record({**_RULE_FIELDS, "step": _required(_TEXT)})
_STEP_RULE: Final = Record({**_RULE_FIELDS, "reevaluate_after_weeks": _optional(_TEXT)})
_FACTOR: Final = Record({**_RULE_FIELDS, "weight": _required(Integer(-10, 10))})
_REPORT: Final = Record({**_RULE_FIELDS, "step": _required(_TEXT)})
_WORDING: Final = Record({"id": _required(_TEXT), "text": _required(_TEXT), "sources": _required(_IDS)})
_CLASSIFICATION: Final = Record(
    {
        "classes": _required(
            ListOf(Record({"value": _required(_ANY), "when": _required(_ANY)}), min_items=1)
        ),
        "otherwise": _optional(_ANY),
    }
)
_POLICY: Final = Record(
    {
        "acuity": _required(
            Record(
                {
                    "sources": _required(_IDS),
                    "classes": _required(
                        ListOf(
                            Record({"value": _required(Choice(ACUITY_VALUES)), "when": _required(_ANY)}),
                            min_items=1,
                        )
                    ),
                    "otherwise": _required(Choice(ACUITY_VALUES)),
                    "wording": _required(Record({value: _required(_WORDING) for value in ACUITY_VALUES})),
                }
            )
        ),
        "definitions": _required(ListOf(_DEFINITION)),
        "steps": _required(
            ListOf(
                Record(
                    {
                        "id": _required(_TEXT),
                        "decision": _required(Choice(DECISIONS)),
                        "rules": _required(ListOf(_STEP_RULE, min_items=1)),
                    }
                ),
                min_items=1,
            )
        ),
        "choice": _required(
            Record(
                {
                    "sources": _required(_IDS),
                    "kyphoplasty_min_score": _required(_PARAM_REF),
                    "vertebroplasty_max_score": _required(_PARAM_REF),
                    "strong_min_magnitude": _required(_PARAM_REF),
                    "moderate_min_magnitude": _required(_PARAM_REF),
                    "factors": _required(ListOf(_FACTOR, min_items=1)),
                }
            )
        ),
    }
)
_REPORTS: Final = Record(
    {
        "coverage": _required(
            Record({"sources": _required(_IDS), "items": _required(ListOf(_RULE, min_items=1))})
        ),
        "cautions": _required(ListOf(_RULE)),
        "reports": _required(ListOf(_REPORT)),
    }
)
_AO_SCORE_MEMBERS: Final = (
    "class_multiplier",
    "severe_osteoporosis_below_t_score",
    "severe_osteoporosis_points",
    "progression_points",
    "pain_min_nrs",
    "pain_points",
    "neurological_deficit_points",
    "immobile_points",
    "asa_above",
    "frailty_above",
    "health_deduction",
    "health_deduction_cap",
    "conservative_at_most",
    "operative_above",
)
_SCORES: Final = Record(
    {
        "morphometry": _required(
            Record(
                {
                    "sources": _required(_IDS),
                    "genant_lower_bounds": _required(_PARAM_REF),
                    "type_tie_order": _required(_PARAM_REF),
                    "disagreement_points": _required(_PARAM_REF),
                    "decimals": _required(_PARAM_REF),
                    "disagreement": _required(_WORDING),
                }
            )
        ),
        "ao_spine": _required(
            Record(
                {
                    "sources": _required(_IDS),
                    "of_class": _required(_CLASSIFICATION),
                    "score": _required(Record({name: _required(_PARAM_REF) for name in _AO_SCORE_MEMBERS})),
                    "caveat": _required(_TEXT),
                }
            )
        ),
    }
)
_FIGURE: Final = Record(
    {
        "value": _optional(Number(0)),
        "low": _optional(Number(0)),
        "high": _optional(Number(0)),
        "below": _optional(Number(0)),
    }
)
_OUTCOMES: Final = Record(
    {
        "outcomes": _required(
            ListOf(
                Record(
                    {
                        "id": _required(_TEXT),
                        "label": _required(_TEXT),
                        "plain_label": _required(_TEXT),
                        "time_frame": _required(_TEXT),
                        "unit": _required(Choice(("people", "percent_of_lost_height", "usd", "minutes"))),
                        "denominator": _optional(Choice((100, 1000))),
                        "per_option": _required(Record({option: _optional(_FIGURE) for option in OPTIONS})),
                        "sources": _required(_IDS),
                        "note": _optional(_TEXT),
                    }
                ),
                min_items=1,
            )
        )
    }
)
_CONFLICTS: Final = Record(
    {
        "conflicts": _required(
            ListOf(
                Record(
                    {
                        "id": _required(_TEXT),
                        "topic": _required(_TEXT),
                        "sources": _required(_IDS),
                        "positions": _required(_TEXT),
                        "resolution": _required(_TEXT),
                        "touched_when_fired": _required(_IDS),
                    }
                )
            )
        )
    }
)
_AFTERCARE: Final = Record(
    {
        "aftercare": _required(
            ListOf(
                Record(
                    {
                        "id": _required(_TEXT),
                        "text": _required(_TEXT),
                        "plain": _required(_TEXT),
                        "applies_to": _required(ListOf(Choice(DECISIONS), min_items=1, distinct=True)),
                        "sources": _required(_IDS),
                    }
                ),
                min_items=1,
            )
        )
    }
)
_CAVEATS: Final = Record(
    {
        "evidence_caveat": _required(
            Record({"text": _required(_TEXT), "plain": _required(_TEXT), "sources": _required(_IDS)})
        ),
        "unverified_claims": _required(
            ListOf(
                Record(
                    {
                        "id": _required(_TEXT),
                        "claim": _required(_TEXT),
                        "source": _required(_TEXT),
                        "status": _required(Choice(("unverified",))),
                        "why": _required(_TEXT),
                    }
                )
            )
        ),
    }
)
_FACTS_WHY: Final = Record({"facts": _required(MappingOf(_TEXT))})
_DECISIONS: Final = Record(
    {
        "decisions": _required(
            Record(
                {
                    decision: _required(Record({"label": _required(_TEXT), "summary": _required(_TEXT)}))
                    for decision in DECISIONS
                }
            )
        )
    }
)

_SHAPES: Final[Mapping[str, Shape]] = {
    "pack.yaml": _PACK_INFO,
    "sources.yaml": Record({"sources": _required(MappingOf(_SOURCE, min_items=1))}),
    "parameters.yaml": Record({"parameters": _required(MappingOf(_PARAMETER, min_items=1))}),
    "policy.yaml": _POLICY,
    "reports.yaml": _REPORTS,
    "scores.yaml": _SCORES,
    "outcomes.yaml": _OUTCOMES,
    "conflicts.yaml": _CONFLICTS,
    "aftercare.yaml": _AFTERCARE,
    "caveats.yaml": _CAVEATS,
    "facts.yaml": _FACTS_WHY,
    "decisions.yaml": _DECISIONS,
    DECISION_AID_FILE: decision_aid_shape(OPTIONS, DECISIONS),
    CDS_FILE: cds_shape(),
}


def pack_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of each file of a knowledge pack, by file name."""
    return {name: shape.json_schema() for name, shape in _SHAPES.items()}


def _read_documents(directory: Traversable) -> tuple[dict[str, Any], list[Problem]]:
    documents: dict[str, Any] = {}
    problems: list[Problem] = []
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name in PACK_FILES:
        entry = directory.joinpath(name)
        if not entry.is_file():
            problems.append((name, "is missing from the pack"))
            continue
        try:
            documents[name] = yaml.load(entry.read_text(encoding="utf-8"), Loader=loader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problems.append((name, f"is not valid YAML{where}"))
    return documents, problems


def digest_of(documents: Mapping[str, Any]) -> str:
    """Return the sha256 of the documents in canonical JSON."""
    canonical = json.dumps(documents, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_pack(directory: Traversable | Path | str) -> KnowledgePack:
    """Load and check the knowledge pack in ``directory``.

    Raises:
        InvalidPack: listing every problem, each with its file and path.
    """
    folder: Traversable = Path(directory) if isinstance(directory, str) else directory
    documents, problems = _read_documents(folder)
    checked: dict[str, Any] = {}
    for name, document in documents.items():
        shape_problems: list[Problem] = []
        result = _SHAPES[name].check(document, ROOT, shape_problems)
        problems.extend((f"{name}: {path}", message) for path, message in shape_problems)
        if not shape_problems:
            checked[name] = result
    if problems:
        raise InvalidPack(problems)
    builder = _Builder(checked, digest_of(documents))
    pack = builder.build()
    if builder.problems:
        raise InvalidPack(builder.problems)
    return pack


@cache
def default_pack() -> KnowledgePack:
    """Return the knowledge pack that ships with vertaid (loaded once per process)."""
    return load_pack(resources.files("vertaid.knowledge").joinpath("packs", DEFAULT_PACK))


class _Builder:
    """Turns checked documents into a :class:`KnowledgePack`, collecting cross-reference problems."""

    def __init__(self, documents: Mapping[str, Any], digest: str) -> None:
        self.documents = documents
        self.digest = digest
        self.problems: list[Problem] = []
        self.info = documents["pack.yaml"]
        self.source_ids = set(documents["sources.yaml"]["sources"])
        self.parameters = self._parameters()
        self.values = {name: parameter.value for name, parameter in self.parameters.items()}
        self.named: dict[str, Condition] = {}
        self.rule_ids: set[str] = set()
        self.origins: dict[str, str] = {"pack": "pack.yaml: $", "caveat": "caveats.yaml: evidence_caveat"}

    # -- helpers -----------------------------------------------------------------------------

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def cite(self, ids: Iterable[str], path: str) -> tuple[str, ...]:
        cited = tuple(ids)
        for source in cited:
            if source not in self.source_ids:
                self.fail(path, f"cites unknown source {source!r}")
        return cited

    def condition(self, node: object, path: str, scope: Any = "case") -> Condition:
        try:
            return compile_condition(
                node, facts=FACTS, parameters=self.values, path=path, scope=scope, rules=self.named
            )
        except ConditionError as error:
            self.problems.extend(error.problems)
            return Condition("None", {}, frozenset(), {})

    def param(self, reference: Mapping[str, str], path: str, check: Callable[[Any], bool], kind: str) -> Any:
        name = reference["param"]
        if name not in self.values:
            self.fail(path, f"unknown parameter {name!r}")
            return None
        value = self.values[name]
        if not check(value):
            self.fail(path, f"parameter {name!r} must be {kind}")
        return value

    def integer(self, reference: Mapping[str, str], path: str) -> int:
        value = self.param(
            reference, path, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"
        )
        return int(value) if isinstance(value, int) else 0

    def number(self, reference: Mapping[str, str], path: str) -> float:
        value = self.param(
            reference, path, lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"
        )
        return float(value) if isinstance(value, int | float) else 0.0

    def rule(
        self,
        entry: Mapping[str, Any],
        path: str,
        step: str,
        favours: str | None = None,
        weight: int | None = None,
    ) -> Rule:
        rule_id = entry["id"]
        if rule_id in self.rule_ids:
            self.fail(f"{path}.id", f"rule id {rule_id!r} is used twice")
        self.rule_ids.add(rule_id)
        self.origins[f"rule:{rule_id}"] = path
        reevaluate = entry.get("reevaluate_after_weeks")
        if reevaluate is not None and reevaluate not in self.values:
            self.fail(f"{path}.reevaluate_after_weeks", f"unknown parameter {reevaluate!r}")
        return Rule(
            id=rule_id,
            step=step,
            text=entry["text"],
            sources=self.cite(entry["sources"], f"{path}.sources"),
            condition=self.condition(entry["when"], f"{path}.when"),
            favours=favours,
            weight=weight,
            reevaluate_after_weeks=reevaluate,
        )

    def classification(self, entry: Mapping[str, Any], path: str, sources: tuple[str, ...]) -> Classification:
        classes = tuple(
            (member["value"], self.condition(member["when"], f"{path}.classes[{i}].when", "fracture"))
            for i, member in enumerate(entry["classes"])
        )
        return Classification(classes, entry.get("otherwise"), sources)

    # -- sections ----------------------------------------------------------------------------

    def _parameters(self) -> dict[str, Parameter]:
        effective = self.info["effective_date"]
        parameters: dict[str, Parameter] = {}
        for name, entry in self.documents["parameters.yaml"]["parameters"].items():
            path = f"parameters.yaml: parameters.{name}"
            in_force = [value for value in entry["values"] if str(value["since"]) <= effective]
            if not in_force:
                self.fail(f"{path}.values", f"no value in force on the pack's effective date {effective}")
                continue
            latest = max(in_force, key=lambda value: str(value["since"]))
            parameters[name] = Parameter(
                name=name,
                description=entry["description"],
                unit=entry["unit"],
                value=latest["value"],
                since=str(latest["since"]),
                sources=self.cite(entry["sources"], f"{path}.sources"),
            )
        return parameters

    def build(self) -> KnowledgePack:
        policy = self.documents["policy.yaml"]
        acuity_doc = policy["acuity"]
        acuity_sources = self.cite(acuity_doc["sources"], "policy.yaml: acuity.sources")
        acuity = self.classification(acuity_doc, "policy.yaml: acuity", acuity_sources)
        acuity_wording = {
            status: Wording(
                wording["id"],
                wording["text"],
                self.cite(wording["sources"], f"policy.yaml: acuity.wording.{status}.sources"),
            )
            for status, wording in acuity_doc["wording"].items()
        }
        for status, wording in acuity_doc["wording"].items():
            self.origins[f"rule:{wording['id']}"] = f"policy.yaml: acuity.wording.{status}"
        definitions = []
        for i, entry in enumerate(policy["definitions"]):
            rule = self.rule(entry, f"policy.yaml: definitions[{i}]", entry["step"])
            definitions.append(rule)
            self.named[rule.id] = rule.condition
        steps = tuple(
            Step(
                step["id"],
                step["decision"],
                tuple(
                    self.rule(
                        entry, f"policy.yaml: steps[{i}].rules[{j}]", step["id"], favours=step["decision"]
                    )
                    for j, entry in enumerate(step["rules"])
                ),
            )
            for i, step in enumerate(policy["steps"])
        )
        choice_doc = policy["choice"]
        factors = tuple(
            self.rule(
                entry,
                f"policy.yaml: choice.factors[{i}]",
                "choice",
                favours="kyphoplasty" if entry["weight"] > 0 else "vertebroplasty",
                weight=entry["weight"],
            )
            for i, entry in enumerate(choice_doc["factors"])
        )
        choice = ChoicePolicy(
            factors=factors,
            kyphoplasty_min_score=self.integer(choice_doc["kyphoplasty_min_score"], "policy.yaml: choice"),
            vertebroplasty_max_score=self.integer(
                choice_doc["vertebroplasty_max_score"], "policy.yaml: choice"
            ),
            strong_min_magnitude=self.integer(choice_doc["strong_min_magnitude"], "policy.yaml: choice"),
            moderate_min_magnitude=self.integer(choice_doc["moderate_min_magnitude"], "policy.yaml: choice"),
            sources=self.cite(choice_doc["sources"], "policy.yaml: choice.sources"),
        )
        reports_doc = self.documents["reports.yaml"]
        coverage = tuple(
            self.rule(entry, f"reports.yaml: coverage.items[{i}]", "coverage")
            for i, entry in enumerate(reports_doc["coverage"]["items"])
        )
        cautions = tuple(
            self.rule(entry, f"reports.yaml: cautions[{i}]", "caution")
            for i, entry in enumerate(reports_doc["cautions"])
        )
        reports = tuple(
            self.rule(entry, f"reports.yaml: reports[{i}]", entry["step"])
            for i, entry in enumerate(reports_doc["reports"])
        )
        morphometry, disagreement = self._morphometry()
        outcomes = self._outcomes()
        unverified_claims = self._unverified_claims()
        facts_why = self._facts_why()
        finding_ids = [
            *(wording.id for wording in acuity_wording.values()),
            disagreement.id,
            *(rule.id for rules in (definitions, factors, cautions, reports) for rule in rules),
            *(rule.id for step in steps for rule in step.rules),
        ]
        decision_aid = build_decision_aid(
            self.documents[DECISION_AID_FILE],
            cite=self.cite,
            fail=self.fail,
            outcomes=outcomes,
            finding_ids=finding_ids,
            fact_names=list(facts_why),
            claim_ids=[claim.id for claim in unverified_claims],
        )
        pack = KnowledgePack(
            id=self.info["id"],
            version=self.info["version"],
            title=self.info["title"],
            effective_date=self.info["effective_date"],
            digest=self.digest,
            sources=self._sources(),
            parameters=self.parameters,
            acuity=acuity,
            definitions=tuple(definitions),
            steps=steps,
            choice=choice,
            coverage=coverage,
            coverage_sources=self.cite(reports_doc["coverage"]["sources"], "reports.yaml: coverage.sources"),
            cautions=cautions,
            reports=reports,
            morphometry=morphometry,
            morphometry_disagreement=disagreement,
            ao_spine=self._ao_spine(),
            outcomes=outcomes,
            conflicts=self._conflicts(),
            aftercare=self._aftercare(),
            evidence_caveat=self._caveat(),
            unverified_claims=unverified_claims,
            facts_why=facts_why,
            decisions={
                decision: DecisionWording(wording["label"], wording["summary"])
                for decision, wording in self.documents["decisions.yaml"]["decisions"].items()
            },
            acuity_wording=acuity_wording,
            update_policy=self.info["update_policy"],
            funding=self.info["funding"],
            decision_aid=decision_aid,
            cds=build_cds_wording(
                self.documents[CDS_FILE],
                cite=self.cite,
                fail=self.fail,
                decisions=DECISIONS,
                steps=steps,
                strengths=STRENGTHS,
            ),
            origins=self.origins,
        )
        self._check_wording_ids(pack)
        return pack

    def _sources(self) -> dict[str, Source]:
        for source_id in self.documents["sources.yaml"]["sources"]:
            self.origins[f"source:{source_id}"] = f"sources.yaml: sources.{source_id}"
        return {
            source_id: Source(
                id=source_id,
                kind=entry["kind"],
                title=entry["title"],
                citation=entry["citation"],
                year=entry.get("year"),
                url=entry.get("url"),
                note=entry.get("note"),
            )
            for source_id, entry in self.documents["sources.yaml"]["sources"].items()
        }

    def _morphometry(self) -> tuple[MorphometryPolicy, Wording]:
        doc = self.documents["scores.yaml"]["morphometry"]
        path = "scores.yaml: morphometry"
        bounds = self.param(
            doc["genant_lower_bounds"],
            f"{path}.genant_lower_bounds",
            lambda v: isinstance(v, list) and all(isinstance(b, int | float) for b in v) and v == sorted(v),
            "an ascending list of numbers",
        )
        order = self.param(
            doc["type_tie_order"],
            f"{path}.type_tie_order",
            lambda v: isinstance(v, list) and sorted(v) == ["biconcave", "crush", "wedge"],
            "a list naming crush, wedge and biconcave once each",
        )
        wording = doc["disagreement"]
        self.origins[f"rule:{wording['id']}"] = f"{path}.disagreement"
        disagreement = Wording(
            wording["id"], wording["text"], self.cite(wording["sources"], f"{path}.disagreement.sources")
        )
        return (
            MorphometryPolicy(
                genant_lower_bounds=tuple(float(b) for b in bounds or ()),
                type_tie_order=tuple(order or ()),
                disagreement_points=self.number(doc["disagreement_points"], f"{path}.disagreement_points"),
                decimals=self.integer(doc["decimals"], f"{path}.decimals"),
                sources=self.cite(doc["sources"], f"{path}.sources"),
            ),
            disagreement,
        )

    def _ao_spine(self) -> AoSpinePolicy:
        doc = self.documents["scores.yaml"]["ao_spine"]
        path = "scores.yaml: ao_spine"
        sources = self.cite(doc["sources"], f"{path}.sources")
        self.origins["ao_spine"] = path
        score = doc["score"]
        numbers: dict[str, Any] = {}
        for name in _AO_SCORE_MEMBERS:
            if name == "severe_osteoporosis_below_t_score":
                numbers[name] = self.number(score[name], f"{path}.score.{name}")
            else:
                numbers[name] = self.integer(score[name], f"{path}.score.{name}")
        return AoSpinePolicy(
            of_class=self.classification(doc["of_class"], f"{path}.of_class", sources),
            sources=sources,
            caveat=doc["caveat"],
            **numbers,
        )

    def _outcomes(self) -> tuple[Outcome, ...]:
        outcomes = []
        for i, entry in enumerate(self.documents["outcomes.yaml"]["outcomes"]):
            path = f"outcomes.yaml: outcomes[{i}]"
            self.origins[f"outcome:{entry['id']}"] = path
            if entry["unit"] == "people" and entry.get("denominator") is None:
                self.fail(f"{path}.denominator", "is required when the unit is people")
            for option, figure in entry["per_option"].items():
                if figure is not None and not _is_figure(figure):
                    self.fail(
                        f"{path}.per_option.{option}",
                        "give one of {value: N}, {low: A, high: B} with A <= B, or {below: N}",
                    )
            outcomes.append(
                Outcome(
                    id=entry["id"],
                    label=entry["label"],
                    plain_label=entry["plain_label"],
                    time_frame=entry["time_frame"],
                    unit=entry["unit"],
                    denominator=entry.get("denominator"),
                    per_option={
                        option: (
                            {key: value for key, value in figure.items() if value is not None}
                            if figure is not None
                            else None
                        )
                        for option, figure in entry["per_option"].items()
                    },
                    sources=self.cite(entry["sources"], f"{path}.sources"),
                    note=entry.get("note"),
                )
            )
        return tuple(outcomes)

    def _conflicts(self) -> tuple[Conflict, ...]:
        conflicts = []
        for i, entry in enumerate(self.documents["conflicts.yaml"]["conflicts"]):
            path = f"conflicts.yaml: conflicts[{i}]"
            self.origins[f"conflict:{entry['id']}"] = path
            for rule_id in entry["touched_when_fired"]:
                if rule_id not in self.rule_ids and rule_id not in PSEUDO_RULES:
                    self.fail(f"{path}.touched_when_fired", f"unknown rule {rule_id!r}")
            conflicts.append(
                Conflict(
                    id=entry["id"],
                    topic=entry["topic"],
                    sources=self.cite(entry["sources"], f"{path}.sources"),
                    positions=entry["positions"],
                    resolution=entry["resolution"],
                    touched_when_fired=tuple(entry["touched_when_fired"]),
                )
            )
        return tuple(conflicts)

    def _aftercare(self) -> tuple[AftercareItem, ...]:
        for i, entry in enumerate(self.documents["aftercare.yaml"]["aftercare"]):
            self.origins[f"aftercare:{entry['id']}"] = f"aftercare.yaml: aftercare[{i}]"
        return tuple(
            AftercareItem(
                id=entry["id"],
                text=entry["text"],
                plain=entry["plain"],
                applies_to=tuple(entry["applies_to"]),
                sources=self.cite(entry["sources"], f"aftercare.yaml: aftercare[{i}].sources"),
            )
            for i, entry in enumerate(self.documents["aftercare.yaml"]["aftercare"])
        )

    def _caveat(self) -> EvidenceCaveat:
        doc = self.documents["caveats.yaml"]["evidence_caveat"]
        return EvidenceCaveat(
            doc["text"], doc["plain"], self.cite(doc["sources"], "caveats.yaml: evidence_caveat.sources")
        )

    def _unverified_claims(self) -> tuple[UnverifiedClaim, ...]:
        claims = []
        for i, entry in enumerate(self.documents["caveats.yaml"]["unverified_claims"]):
            self.cite([entry["source"]], f"caveats.yaml: unverified_claims[{i}].source")
            self.origins[f"claim:{entry['id']}"] = f"caveats.yaml: unverified_claims[{i}]"
            claims.append(
                UnverifiedClaim(entry["id"], entry["claim"], entry["source"], entry["status"], entry["why"])
            )
        return tuple(claims)

    def _facts_why(self) -> dict[str, str]:
        why: dict[str, str] = self.documents["facts.yaml"]["facts"]
        for name in why:
            self.origins[f"fact:{name}"] = f"facts.yaml: facts.{name}"
            if name not in FACTS:
                self.fail(f"facts.yaml: facts.{name}", "is not a fact of the case")
        return why

    def _check_wording_ids(self, pack: KnowledgePack) -> None:
        for wording in (*pack.acuity_wording.values(), pack.morphometry_disagreement):
            if wording.id in self.rule_ids:
                self.fail("policy.yaml", f"finding id {wording.id!r} is also a rule id")


def _is_figure(figure: Mapping[str, Any]) -> bool:
    given = {key for key, value in figure.items() if value is not None}
    if given == {"value"} or given == {"below"}:
        return True
    return given == {"low", "high"} and figure["low"] <= figure["high"]
