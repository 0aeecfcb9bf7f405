"""The store's place in the layers: use cases never depend on the adapter that keeps their data."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Final

import vertaid.services

SERVICES: Final = Path(vertaid.services.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_service_imports_the_store_or_a_database_library() -> None:
    """No module of vertaid.services imports vertaid.store, SQLAlchemy, Alembic or psycopg, even lazily."""
    outward = {
        f"{path.name}: {module}"
        for path in SERVICES.glob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] in ("sqlalchemy", "alembic", "psycopg") or module.startswith("vertaid.store")
    }

    assert outward == set()


def _database_modules_loaded_by(imports: str) -> str:
    """The database modules (and vertaid.store's) a fresh interpreter has loaded after ``imports``."""
    probe = (
        f"import sys, {imports}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg')"
        " or m.startswith('vertaid.store')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_use_cases_load_without_the_store() -> None:
    """Importing the records, keys, audit and CDS Hooks use cases loads no database code."""
    imports = (
        "vertaid.services.records, vertaid.services.keys, vertaid.services.audit, "
        "vertaid.services.cds, vertaid.services.cds_records"
    )

    assert _database_modules_loaded_by(imports) == "[]\n"


def test_the_command_line_loads_the_store_only_for_its_commands() -> None:
    """Loading the command line (as ``vertaid assess`` does) loads no database code: a fast cold start."""
    assert _database_modules_loaded_by("vertaid.cli._app") == "[]\n"


def test_the_store_implements_the_ports_the_use_cases_declare() -> None:
    """Store has every method of the protocols in vertaid.services.ports (mypy checks signatures where
    the use cases are called with a Store; this names a missing one plainly)."""
    from vertaid.services import ports
    from vertaid.store import Store

    for protocol in (
        ports.AssessmentRepository,
        ports.AuditRepository,
        ports.KeyRepository,
        ports.CdsTokenRepository,
        ports.CdsFeedbackRepository,
    ):
        wanted = {name for name in vars(protocol) if not name.startswith("_")}
        assert wanted <= set(dir(Store)), protocol.__name__
