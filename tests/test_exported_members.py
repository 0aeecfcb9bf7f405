"""The public Python surface: what ``vertaid`` and ``vertaid.knowledge`` export (CONTRACT §4a).

``__all__`` lists exactly the public names a package defines, in sorted order. The order checked is
the one the project's linter enforces (ruff RUF022, "isort-style": SCREAMING_CASE names, then
CamelCase names, then the rest, each group in plain order); for ``vertaid`` it is also plain order.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
from types import ModuleType
from typing import Final

import pytest

import vertaid
import vertaid.cds
import vertaid.fhir
import vertaid.knowledge
import vertaid.report
import vertaid.store

PACKAGES: Final = (
    "vertaid",
    "vertaid.cds",
    "vertaid.fhir",
    "vertaid.knowledge",
    "vertaid.report",
    "vertaid.store",
)


def defined_public_names(module: ModuleType) -> set[str]:
    """The names a module's own source binds at top level, except private ones (dunders count)."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    names.discard("annotations")  # from __future__ import annotations
    names.discard("__all__")
    return {name for name in names if not name.startswith("_") or re.fullmatch(r"__\w+__", name)}


def isort_style_key(name: str) -> tuple[int, str]:
    """Ruff RUF022's order: SCREAMING_SNAKE_CASE first, then CamelCase, then everything else."""
    if len(name) > 1 and name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names_the_package_defines(name: str) -> None:
    """``__all__`` names every public name the package binds, and nothing else."""
    module = importlib.import_module(name)

    assert defined_public_names(module) == set(module.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_has_no_repeated_name(name: str) -> None:
    """No name is listed twice in ``__all__``."""
    exported = importlib.import_module(name).__all__

    assert len(set(exported)) == len(exported)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_as_the_linter_sorts_it(name: str) -> None:
    """``__all__`` is in ruff's isort-style order (RUF022)."""
    exported = list(importlib.import_module(name).__all__)

    assert sorted(exported, key=isort_style_key) == exported


def test_the_top_level_all_is_in_plain_sorted_order() -> None:
    """``vertaid.__all__`` is in plain sorted order too (``sorted(__all__) == __all__``)."""
    assert sorted(vertaid.__all__) == list(vertaid.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_in_all_is_an_attribute(name: str) -> None:
    """Each name in ``__all__`` is there to import, and a star import gives exactly ``__all__``."""
    module = importlib.import_module(name)
    namespace: dict[str, object] = {}

    exec(f"from {name} import *", namespace)

    assert [] == [member for member in module.__all__ if not hasattr(module, member)]
    assert set(module.__all__) == set(namespace) - {"__builtins__"}


def test_assess_and_invalid_case_import_from_the_package() -> None:
    """``from vertaid import assess, InvalidCase`` gives the assessment function and its error."""
    from vertaid import InvalidCase, assess

    assert callable(assess)
    assert issubclass(InvalidCase, ValueError)
    with pytest.raises(InvalidCase):
        assess({})


def test_the_error_raised_is_the_one_exported() -> None:
    """The error ``vertaid.assess`` raises is ``vertaid.InvalidCase`` itself, not a look-alike."""
    with pytest.raises(vertaid.InvalidCase) as raised:
        vertaid.assess({"patient": {"age": 78}})

    assert vertaid.InvalidCase is type(raised.value)


def test_the_knowledge_exports_load_the_pack() -> None:
    """``vertaid.knowledge`` exports the loader, the default pack and the error a bad pack raises."""
    from vertaid.knowledge import InvalidPack, default_pack, load_pack

    assert issubclass(InvalidPack, ValueError)
    assert callable(load_pack)
    assert default_pack() is default_pack()
    assert vertaid.InvalidPack is InvalidPack
    assert vertaid.load_pack is load_pack


def test_the_version_is_the_installed_distributions() -> None:
    """``vertaid.__version__`` is the version the installed distribution reports."""
    assert importlib.metadata.version("vertaid") == vertaid.__version__
