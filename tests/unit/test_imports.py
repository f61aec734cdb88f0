"""Every name the scripts, benchmarks and notebooks import from `ecomflow` exists (mypy checks only lib/).

A name can vanish in a move while nothing under test imports the file that asks for it: the
benchmark of the streaming path asked for `replay.read_rows` for months after it was renamed.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELLS = ("bench", "jobs", "lambdas")


def _sources() -> list[tuple[str, str]]:
    found = [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
             for folder in SHELLS for path in sorted((ROOT / folder).rglob("*.py"))]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))  # magics
        found.append((str(notebook.relative_to(ROOT)), code))
    return found


def _imports(source: str) -> list[tuple[str, str]]:
    tree = ast.parse(source)
    return [(node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ecomflow"
            for alias in node.names]


def _exists(module: str, name: str) -> bool:
    if hasattr(importlib.import_module(module), name):
        return True
    try:  # `from ecomflow.stores import iceberg`: a submodule
        importlib.import_module(f"{module}.{name}")
    except ModuleNotFoundError:
        return False
    return True


@pytest.mark.parametrize(("path", "source"), [pytest.param(*found, id=found[0]) for found in _sources()])
def test_every_imported_name_exists(path: str, source: str) -> None:
    missing = [f"{module}.{name}" for module, name in _imports(source) if not _exists(module, name)]
    assert not missing, f"{path} imports names that do not exist: {missing}"


def test_the_check_can_fail() -> None:
    assert _imports("from ecomflow.devtools.replay import read_rows") == [("ecomflow.devtools.replay", "read_rows")]
    assert not _exists("ecomflow.devtools.replay", "read_rows")
    assert _exists("ecomflow.stores", "iceberg") and _exists("ecomflow.contract", "RAW_FIELDS")
