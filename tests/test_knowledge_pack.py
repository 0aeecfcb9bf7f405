"""The knowledge pack: it loads whole or not at all, its digest tracks its meaning, and it alone holds
the policy's numbers (CLINICAL_POLICY: "every threshold, weight and outcome figure … is knowledge, not code").

Each test that breaks the pack copies the shipped pack to a temporary directory and changes one file.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

import vertaid
import vertaid.services.assessment
from vertaid.knowledge import InvalidPack, default_pack, load_pack

VIGNETTES: Final = Path(__file__).parent / "vignettes"
SRC: Final = Path(vertaid.__file__).resolve().parent

Problems = list[tuple[str, str]]


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A copy of the shipped vcf-v1 pack that a test may change."""
    shipped = resources.files("vertaid.knowledge") / "packs" / "vcf-v1"
    target = tmp_path / "vcf-v1"
    with resources.as_file(shipped) as source:
        shutil.copytree(source, target)
    return target


def vignette_case(name: str) -> dict[str, Any]:
    """The case of a vignette in tests/vignettes."""
    case: dict[str, Any] = json.loads((VIGNETTES / name).read_text(encoding="utf-8"))["case"]
    return case


def read_yaml(pack: Path, name: str) -> Any:
    """One file of a pack, parsed."""
    return yaml.safe_load((pack / name).read_text(encoding="utf-8"))


def edit(pack: Path, name: str, change: Callable[[Any], None]) -> None:
    """Parse one file of the pack, change it in place and write it back as YAML."""
    document = read_yaml(pack, name)
    change(document)
    (pack / name).write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def problems_loading(pack: Path) -> Problems:
    """The problems ``load_pack`` reports for a pack that must not load."""
    with pytest.raises(InvalidPack) as raised:
        load_pack(pack)
    problems: Problems = raised.value.problems
    assert problems, "InvalidPack without problems"
    return problems


def assert_reported(problems: Problems, file: str, path: str, *words: str) -> None:
    """Some problem names ``file`` and the path ``path`` within it, and its message has ``words``."""
    for where, message in problems:
        if where.startswith(file) and where.endswith(path) and all(word in message for word in words):
            return
    raise AssertionError(f"no problem at {file}: {path} mentioning {words}; got {problems}")


def factor(policy: Any, rule_id: str) -> dict[str, Any]:
    """The factor of the KP-vs-VP score with this id, in a parsed policy.yaml."""
    found: dict[str, Any] = next(f for f in policy["choice"]["factors"] if f["id"] == rule_id)
    return found


def factor_index(pack: Path, rule_id: str) -> int:
    """The position of a factor in the pack's policy.yaml."""
    factors = read_yaml(pack, "policy.yaml")["choice"]["factors"]
    return next(i for i, f in enumerate(factors) if f["id"] == rule_id)


# -- the shipped pack ------------------------------------------------------------------------


def test_the_shipped_pack_loads_and_its_digest_is_stamped_on_every_assessment() -> None:
    """The shipped pack loads; its digest is a sha256 in hex and is the assessment's ``knowledge.digest``."""
    pack = default_pack()
    assessment = vertaid.assess(vignette_case("01-stable-pain-only.json"))

    assert re.fullmatch(r"[0-9a-f]{64}", pack.digest)
    assert pack.digest == assessment["knowledge"]["digest"]
    assert pack.version == assessment["knowledge"]["version"]


def test_a_copy_of_the_pack_loads_with_the_same_digest(pack_dir: Path) -> None:
    """The pack copied elsewhere loads with the shipped digest: the digest is of content, not place."""
    assert default_pack().digest == load_pack(pack_dir).digest
    assert default_pack().digest == load_pack(str(pack_dir)).digest


def test_loading_the_pack_twice_gives_the_same_digest(pack_dir: Path) -> None:
    """Two loads of the same pack give the same digest."""
    assert load_pack(pack_dir).digest == load_pack(pack_dir).digest


# -- a broken pack does not load -------------------------------------------------------------


def test_a_factor_citing_an_unknown_source_does_not_load(pack_dir: Path) -> None:
    """A factor citing a source id missing from the bibliography is a problem naming file, path and id."""
    edit(pack_dir, "policy.yaml", lambda p: factor(p, "K-height")["sources"].append("Nobody 1999"))
    index = factor_index(pack_dir, "K-height")

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", f"choice.factors[{index}].sources", "Nobody 1999")


def test_a_parameter_citing_an_unknown_source_does_not_load(pack_dir: Path) -> None:
    """A parameter citing a source id missing from the bibliography is a problem naming it."""
    edit(
        pack_dir,
        "parameters.yaml",
        lambda p: p["parameters"]["younger_age_below"].__setitem__("sources", ["Someone 2031"]),
    )

    problems = problems_loading(pack_dir)

    assert_reported(problems, "parameters.yaml", "parameters.younger_age_below.sources", "Someone 2031")


def test_an_outcome_citing_an_unknown_source_does_not_load(pack_dir: Path) -> None:
    """An outcome figure citing a source id missing from the bibliography is a problem naming it."""
    edit(pack_dir, "outcomes.yaml", lambda p: p["outcomes"][0]["sources"].append("Rumour 2024"))

    problems = problems_loading(pack_dir)

    assert_reported(problems, "outcomes.yaml", "outcomes[0].sources", "Rumour 2024")


def test_removing_a_cited_source_from_the_bibliography_does_not_load(pack_dir: Path) -> None:
    """Deleting a source that rules cite from sources.yaml leaves dangling citations, each reported."""
    edit(pack_dir, "sources.yaml", lambda p: p["sources"].pop("SINS"))

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "sources", "SINS")
    assert_reported(problems, "parameters.yaml", "parameters.junctional_levels.sources", "SINS")


def test_a_rule_missing_its_text_does_not_load(pack_dir: Path) -> None:
    """A rule without ``text`` is a problem at that rule's ``text``."""
    edit(pack_dir, "policy.yaml", lambda p: p["steps"][0]["rules"][0].pop("text"))

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "steps[0].rules[0].text", "required")


def test_a_condition_naming_an_unknown_fact_does_not_load(pack_dir: Path) -> None:
    """A condition that tests a fact the case does not have is a problem naming the fact."""
    edit(
        pack_dir,
        "policy.yaml",
        lambda p: p["steps"][1]["rules"][0].__setitem__("when", {"fact": "patient.feverish", "is": True}),
    )

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "steps[1].rules[0].when.fact", "patient.feverish")


def test_a_condition_with_a_literal_number_does_not_load(pack_dir: Path) -> None:
    """A threshold written as a number instead of ``{param: NAME}`` is a problem at that comparison."""
    edit(
        pack_dir,
        "policy.yaml",
        lambda p: factor(p, "K-height").__setitem__(
            "when", {"any_target": {"fact": "height_loss_percent", "gt": 30}}
        ),
    )
    index = factor_index(pack_dir, "K-height")

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", f"choice.factors[{index}].when.any_target.gt", "param")


def test_a_condition_naming_an_unknown_parameter_does_not_load(pack_dir: Path) -> None:
    """A condition naming a parameter that parameters.yaml does not define is a problem naming it."""
    edit(
        pack_dir,
        "policy.yaml",
        lambda p: factor(p, "K-height").__setitem__(
            "when", {"any_target": {"fact": "height_loss_percent", "gt": {"param": "no_such_threshold"}}}
        ),
    )
    index = factor_index(pack_dir, "K-height")

    problems = problems_loading(pack_dir)

    assert_reported(
        problems, "policy.yaml", f"choice.factors[{index}].when.any_target.gt", "no_such_threshold"
    )


def test_a_parameter_not_yet_in_force_does_not_load(pack_dir: Path) -> None:
    """A parameter whose only value starts after the pack's effective date has no value: a problem."""
    edit(
        pack_dir,
        "parameters.yaml",
        lambda p: p["parameters"]["kyphoplasty_height_loss_above_percent"].__setitem__(
            "values", [{"since": "2099-01-01", "value": 30}]
        ),
    )

    problems = problems_loading(pack_dir)

    assert_reported(problems, "parameters.yaml", "parameters.kyphoplasty_height_loss_above_percent.values")


def test_the_value_in_force_on_the_effective_date_is_used(pack_dir: Path) -> None:
    """Of a parameter's dated values, the latest one starting on or before the effective date is used."""
    effective = read_yaml(pack_dir, "pack.yaml")["effective_date"]
    values = [
        {"since": "2000-01-01", "value": 20},
        {"since": str(effective), "value": 35},
        {"since": "2099-01-01", "value": 50},
    ]
    edit(
        pack_dir,
        "parameters.yaml",
        lambda p: p["parameters"]["kyphoplasty_height_loss_above_percent"].__setitem__("values", values),
    )

    pack = load_pack(pack_dir)

    assert 35 == pack.parameters["kyphoplasty_height_loss_above_percent"].value


def test_a_duplicated_rule_id_does_not_load(pack_dir: Path) -> None:
    """Two rules with the same id are a problem naming the id."""

    def duplicate(policy: Any) -> None:
        rules = policy["steps"][0]["rules"]
        rules[1]["id"] = rules[0]["id"]

    edit(pack_dir, "policy.yaml", duplicate)
    rule_id = read_yaml(pack_dir, "policy.yaml")["steps"][0]["rules"][0]["id"]

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "steps[0].rules[1].id", rule_id)


@pytest.mark.parametrize(
    "name", ["outcomes.yaml", "policy.yaml", "sources.yaml", "parameters.yaml", "pack.yaml", "facts.yaml"]
)
def test_a_missing_file_does_not_load(pack_dir: Path, name: str) -> None:
    """A pack missing one of its files is a problem naming the file."""
    (pack_dir / name).unlink()

    problems = problems_loading(pack_dir)

    assert name in [where for where, _ in problems]


def test_invalid_yaml_does_not_load(pack_dir: Path) -> None:
    """A file that is not valid YAML is a problem naming the file, not a crash."""
    (pack_dir / "policy.yaml").write_text("steps: [unclosed\n  - {id: ", encoding="utf-8")

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "policy.yaml", "YAML")


def test_an_empty_file_does_not_load(pack_dir: Path) -> None:
    """An empty pack file is a problem naming the file."""
    (pack_dir / "conflicts.yaml").write_text("", encoding="utf-8")

    problems = problems_loading(pack_dir)

    assert any(where.startswith("conflicts.yaml") for where, _ in problems), problems


def test_a_misspelt_key_in_a_rule_does_not_load(pack_dir: Path) -> None:
    """A rule with a misspelt member (``txet``) is a problem at that member, with a suggestion."""

    def misspell(policy: Any) -> None:
        rule = policy["steps"][1]["rules"][0]
        rule["txet"] = rule.pop("text")

    edit(pack_dir, "policy.yaml", misspell)

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "steps[1].rules[0].txet", "text")


def test_a_misspelt_key_in_a_factor_does_not_load(pack_dir: Path) -> None:
    """A factor whose ``weight`` is misspelt is a problem, never a factor silently weighing nothing."""

    def misspell(policy: Any) -> None:
        first = policy["choice"]["factors"][0]
        first["wieght"] = first.pop("weight")

    edit(pack_dir, "policy.yaml", misspell)

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "choice.factors[0].wieght")


def test_a_conflict_touched_by_an_unknown_rule_does_not_load(pack_dir: Path) -> None:
    """A conflict shown when an unknown rule fires is a problem naming the rule."""
    edit(pack_dir, "conflicts.yaml", lambda p: p["conflicts"][0]["touched_when_fired"].append("K-unknown"))

    problems = problems_loading(pack_dir)

    assert_reported(problems, "conflicts.yaml", "conflicts[0].touched_when_fired", "K-unknown")


def test_every_problem_in_every_file_is_reported_at_once(pack_dir: Path) -> None:
    """Problems in two files are both reported by one load, not only the first."""
    edit(pack_dir, "policy.yaml", lambda p: p["steps"][0]["rules"][0].pop("text"))
    edit(pack_dir, "outcomes.yaml", lambda p: p["outcomes"][0].pop("label"))

    problems = problems_loading(pack_dir)

    assert_reported(problems, "policy.yaml", "steps[0].rules[0].text")
    assert_reported(problems, "outcomes.yaml", "outcomes[0].label")


# -- the digest ------------------------------------------------------------------------------


def test_the_digest_changes_when_a_parameter_value_changes(pack_dir: Path) -> None:
    """Changing one parameter value gives the pack a different digest."""
    before = load_pack(pack_dir).digest
    edit(
        pack_dir,
        "parameters.yaml",
        lambda p: p["parameters"]["younger_age_below"]["values"][0].__setitem__("value", 66),
    )

    after = load_pack(pack_dir).digest

    assert before != after


def test_the_digest_does_not_change_with_a_comment(pack_dir: Path) -> None:
    """Adding and changing YAML comments leaves the digest as it was."""
    before = load_pack(pack_dir).digest
    policy = pack_dir / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    lines = [f"{line} (reviewed)" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    policy.write_text("# Reviewed by the committee.\n" + "\n".join(lines) + "\n# end\n", encoding="utf-8")
    assert text != policy.read_text(encoding="utf-8")

    after = load_pack(pack_dir).digest

    assert before == after


def test_the_digest_does_not_change_with_layout(pack_dir: Path) -> None:
    """Rewriting every file with another YAML layout (no comments, other quoting) keeps the digest."""
    before = load_pack(pack_dir).digest
    for path in sorted(pack_dir.glob("*.yaml")):
        edit(pack_dir, path.name, lambda _: None)

    after = load_pack(pack_dir).digest

    assert before == after


# -- the pack decides ------------------------------------------------------------------------


def _set_parameter(pack: Path, name: str, value: Any) -> None:
    def change(parameters: Any) -> None:
        for entry in parameters["parameters"][name]["values"]:
            entry["value"] = value

    edit(pack, "parameters.yaml", change)


def test_changing_a_threshold_in_the_pack_changes_the_decision(pack_dir: Path) -> None:
    """With the kyphoplasty height-loss threshold raised to 40%, a 38% collapse is no longer kyphoplasty."""
    case = vignette_case("02-collapse-over-30.json")
    assert 38 == case["fractures"][0]["height_loss_percent"]
    assert "kyphoplasty" == vertaid.services.assessment.assess(case, load_pack(pack_dir))["decision"]
    _set_parameter(pack_dir, "kyphoplasty_height_loss_above_percent", 40)
    pack = load_pack(pack_dir)

    assessment = vertaid.services.assessment.assess(case, pack)

    assert "kyphoplasty" != assessment["decision"]
    assert "K-height" not in [finding["rule"] for finding in assessment["findings"]]
    assert pack.digest == assessment["knowledge"]["digest"]
    assert default_pack().digest != pack.digest


def test_changing_a_weight_in_the_pack_changes_the_score(pack_dir: Path) -> None:
    """With K-height weighing 3 instead of 2, the 38% collapse scores one point more."""
    case = vignette_case("02-collapse-over-30.json")
    before = vertaid.services.assessment.assess(case, load_pack(pack_dir))
    edit(pack_dir, "policy.yaml", lambda p: factor(p, "K-height").__setitem__("weight", 3))

    after = vertaid.services.assessment.assess(case, load_pack(pack_dir))

    assert before["score"] + 1 == after["score"]


def test_a_pack_change_does_not_touch_the_default_pack(pack_dir: Path) -> None:
    """Loading a changed copy leaves ``vertaid.assess`` (the shipped pack) as it was."""
    case = vignette_case("02-collapse-over-30.json")
    _set_parameter(pack_dir, "kyphoplasty_height_loss_above_percent", 40)
    load_pack(pack_dir)

    assessment = vertaid.assess(case)

    assert "kyphoplasty" == assessment["decision"]
    assert default_pack().digest == assessment["knowledge"]["digest"]


# -- no clinical number in the code ----------------------------------------------------------

ENGINE_MODULES: Final = (
    "engine.py",
    "what_if.py",
    "ao_spine.py",
    "morphometry.py",
    "assessment.py",
    "conditions.py",
    "facts.py",
)


def _engine_files() -> list[Path]:
    files = [
        path
        for folder in (SRC / "domain", SRC / "services")
        for path in sorted(folder.glob("*.py"))
        if path.name in ENGINE_MODULES
    ]
    assert {path.name for path in files} == set(ENGINE_MODULES)
    return files


def _numeric_literal(node: ast.expr) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _numeric_literal(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if (
        isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and isinstance(node.value, int | float)
    ):
        return node.value
    return None


def _compared_numbers(tree: ast.AST) -> Iterator[tuple[int, float]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                value = _numeric_literal(operand)
                if value is not None:
                    yield node.lineno, value


@pytest.mark.parametrize("path", _engine_files(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_no_engine_module_compares_with_a_clinical_number(path: Path) -> None:
    """No comparison in an engine module has a numeric literal but 0 or 1: thresholds live in the pack."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    literals = [(line, value) for line, value in _compared_numbers(tree) if value not in (0, 1)]

    assert [] == literals


def test_the_literal_check_finds_a_threshold_written_in_code() -> None:
    """The check above does see a threshold written in code (it is able to fail)."""
    tree = ast.parse("def kp(h):\n    return h > 30 or -3.0 >= h or 0 < h\n")

    assert [(2, 30), (2, -3.0), (2, 0)] == list(_compared_numbers(tree))


# -- sources ---------------------------------------------------------------------------------


def _citations(document: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every (location, source id) cited in a parsed pack file: ``sources`` lists and ``source`` ids."""
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{where}.{key}" if where else str(key)
            if key == "sources" and isinstance(value, list):
                yield from ((here, source) for source in value)
            elif key == "source" and isinstance(value, str):
                yield here, value
            else:
                yield from _citations(value, here)
    elif isinstance(document, list):
        for index, member in enumerate(document):
            yield from _citations(member, f"{where}[{index}]")


def _shipped_files() -> list[str]:
    shipped = resources.files("vertaid.knowledge") / "packs" / "vcf-v1"
    return sorted(entry.name for entry in shipped.iterdir() if entry.name.endswith(".yaml"))


def test_every_source_cited_anywhere_in_the_pack_is_in_its_bibliography() -> None:
    """Rules, parameters, outcomes, conflicts, aftercare and caveats cite only sources the pack defines."""
    shipped = resources.files("vertaid.knowledge") / "packs" / "vcf-v1"
    bibliography = set(default_pack().sources)
    cited: list[tuple[str, str]] = []
    for name in _shipped_files():
        if name == "sources.yaml":
            continue
        document = yaml.safe_load(shipped.joinpath(name).read_text(encoding="utf-8"))
        cited.extend((f"{name}: {where}", source) for where, source in _citations(document))

    dangling = [(where, source) for where, source in cited if source not in bibliography]

    assert [] == dangling
    files_citing = {where.split(":")[0] for where, _ in cited}
    for name in (
        "policy.yaml",
        "parameters.yaml",
        "outcomes.yaml",
        "conflicts.yaml",
        "aftercare.yaml",
        "caveats.yaml",
        "reports.yaml",
        "scores.yaml",
    ):
        assert name in files_citing


REQUIRED_SOURCES: Final = (
    "seed:000",
    "seed:001",
    "LCD L34228",
    "Hirsch 2018",
    "AO Spine OF",
    "ACR RDES230",
    "SINS",
    "VAPOUR",
    "INVEST",
    "Buchbinder 2009",
    "VERTOS IV",
    "World Neurosurg 2017",
    "European RAM 2013",
)


@pytest.mark.parametrize("source", REQUIRED_SOURCES)
def test_the_bibliography_has_the_policys_sources(source: str) -> None:
    """Each source CLINICAL_POLICY relies on is in the pack's bibliography, with a title and citation."""
    entry = default_pack().sources[source]

    assert entry.title.strip()
    assert entry.citation.strip()


def test_the_evidence_caveat_cites_the_sham_controlled_trials() -> None:
    """The evidence caveat of every assessment cites INVEST, Buchbinder 2009, VERTOS IV and VAPOUR."""
    assessment = vertaid.assess(vignette_case("02-collapse-over-30.json"))

    cited = set(assessment["evidence_caveat"]["sources"])

    assert {"INVEST", "Buchbinder 2009", "VERTOS IV", "VAPOUR"} <= cited


# -- outcome figures (CLINICAL_POLICY §6) ----------------------------------------------------

# (outcome id, option, expected figure, denominator): the figures of CLINICAL_POLICY §6.
POLICY_FIGURES: Final[list[tuple[str, str, dict[str, float], int | None]]] = [
    ("pain_relief_24h", "kyphoplasty", {"low": 85, "high": 90}, 100),
    ("pain_relief_24h", "vertebroplasty", {"low": 85, "high": 90}, 100),
    ("any_cement_leak", "vertebroplasty", {"low": 27, "high": 68}, 100),
    ("any_cement_leak", "kyphoplasty", {"low": 9, "high": 33}, 100),
    ("symptomatic_leak", "vertebroplasty", {"value": 11}, 1000),
    ("symptomatic_leak", "kyphoplasty", {"value": 6}, 1000),
    ("new_fracture_1y", "kyphoplasty", {"low": 5, "high": 10}, 100),
    ("new_fracture_1y", "vertebroplasty", {"low": 5, "high": 10}, 100),
    ("daily_activities_72h", "kyphoplasty", {"value": 92}, 100),
    ("daily_activities_72h", "vertebroplasty", {"value": 92}, 100),
    ("off_opioids_1w", "kyphoplasty", {"value": 75}, 100),
    ("off_opioids_1w", "vertebroplasty", {"value": 75}, 100),
    ("height_restored", "vertebroplasty", {"below": 5}, None),
    ("height_restored", "kyphoplasty", {"low": 40, "high": 60}, None),
    ("medicare_payment", "kyphoplasty", {"value": 3850}, None),
    ("medicare_payment", "vertebroplasty", {"value": 2950}, None),
    ("procedure_time", "kyphoplasty", {"low": 30, "high": 60}, None),
    ("procedure_time", "vertebroplasty", {"low": 30, "high": 60}, None),
]


@pytest.mark.parametrize(
    ("outcome", "option", "figure", "denominator"),
    POLICY_FIGURES,
    ids=[f"{outcome}-{option}" for outcome, option, _, _ in POLICY_FIGURES],
)
@pytest.mark.parametrize(
    "vignette", ["02-collapse-over-30.json", "07-mild-pain.json", "12-neuro-deficit.json"]
)
def test_every_assessment_shows_the_policys_outcome_figures(
    outcome: str, option: str, figure: dict[str, float], denominator: int | None, vignette: str
) -> None:
    """Each option shows CLINICAL_POLICY §6's figure, whatever the decision, with time frame and source."""
    assessment = vertaid.assess(vignette_case(vignette))

    shown = assessment["outcomes"][option][outcome]

    assert figure == shown["figure"]
    if denominator is not None:
        assert denominator == shown["denominator"]
    assert shown["time_frame"].strip()
    assert shown["sources"]


def test_the_figures_for_people_are_natural_frequencies() -> None:
    """Every figure counted in people is per 100 or per 1000, and stays within its denominator."""
    assessment = vertaid.assess(vignette_case("02-collapse-over-30.json"))

    for option, outcomes in assessment["outcomes"].items():
        for outcome_id, shown in outcomes.items():
            if shown["unit"] != "people" or shown["figure"] is None:
                continue
            assert shown["denominator"] in (100, 1000), (option, outcome_id)
            assert all(0 <= value <= shown["denominator"] for value in shown["figure"].values()), outcome_id
