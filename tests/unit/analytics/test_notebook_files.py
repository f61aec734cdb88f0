"""The committed notebooks: no outputs, a papermill parameters cell, logic left to the library."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[3] / "notebooks").glob("*.ipynb"))


def test_the_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == ["01_explore_sales.ipynb", "02_customers_rfm.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_or_execution_counts(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert [c.source[:40] for c in code if c.outputs] == []
    assert [c.source[:40] for c in code if c.execution_count is not None] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lake_is_a_papermill_parameter(path):
    import papermill

    assert papermill.inspect_notebook(str(path))["lake"]["default"] == "None"  # None: the demo lake


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_read_through_the_library(path):
    sources = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert "from ecomflow.analytics import explore" in sources
    assert "duckdb" not in sources and "read_parquet" not in sources
