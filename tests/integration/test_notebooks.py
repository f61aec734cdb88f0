"""The notebooks, executed with papermill on a small generated lake built by the batch job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from ecomflow.config import parse_batch_config
from ecomflow.devtools.generate import generate_file
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL = "ecomflow-notebook-tests"


@pytest.fixture(scope="module")
def generated_lake(spark, tmp_path_factory) -> tuple[Path, Path]:
    """A lake and its run report from 3,000 generated lines (with malformed ones, so quarantine is not empty)."""
    folder = tmp_path_factory.mktemp("notebook-lake")
    raw = folder / "retail.csv"
    generate_file(str(raw), rows=3000, seed=11, malformed_rate=0.003)
    config = parse_batch_config(["batch", "--input", str(raw), "--lake", str(folder / "lake"),
                                 "--report", str(folder / "report.json")])
    report = run_batch(Runtime(spark=spark), config)
    report.write(config.report_path)
    assert report.rows_quarantined > 0
    return folder / "lake", folder / "report.json"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> str:
    """A kernelspec running this interpreter (the venv's), found first through JUPYTER_PATH.

    Whatever `python3` kernels the machine or the user has installed, the notebooks run on the
    interpreter that runs the tests, with matplotlib's headless Agg backend.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    data = tmp_path_factory.mktemp("jupyter")
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "EcomFlow (tests)", "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(data))
        patch.setenv("MPLBACKEND", "Agg")
        assert KernelSpecManager().get_kernel_spec(KERNEL).argv[0] == sys.executable
        yield KERNEL


def execute(name: str, kernel: str, out_dir: Path, **parameters: str) -> nbformat.NotebookNode:
    """Run one notebook with papermill (a failing cell raises PapermillExecutionError) and read the result."""
    import papermill

    output = out_dir / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(output), parameters=parameters, kernel_name=kernel,
                               cwd=str(out_dir), progress_bar=False, log_output=False, execution_timeout=600)
    return nbformat.read(output, as_version=4)


def code_cells(book: nbformat.NotebookNode, tag: str | None = None) -> list[nbformat.NotebookNode]:
    return [c for c in book.cells if c.cell_type == "code" and (tag is None or tag in c.metadata.get("tags", []))]


def outputs_of(cell: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o["data"][mime] for o in cell.outputs if mime in o.get("data", {})]


def assert_ran_on(book: nbformat.NotebookNode, lake: Path) -> None:
    assert not [o for c in code_cells(book) for o in c.outputs if o.output_type == "error"]
    assert code_cells(book, "injected-parameters"), "papermill did not inject the parameters"
    # The setup cell ends with `db.location`: the notebook read the lake it was given, not the demo lake.
    assert any(repr(str(lake)) in text for c in code_cells(book) for text in outputs_of(c, "text/plain"))


def assert_every_chart_drawn(book: nbformat.NotebookNode, expected: int) -> None:
    charts = code_cells(book, "chart")
    assert len(charts) == expected
    for cell in charts:
        assert outputs_of(cell, "image/png"), f"no chart from:\n{cell.source}"


def test_explore_sales_notebook_runs_on_a_generated_lake(generated_lake, kernel, tmp_path):
    lake, report = generated_lake
    book = execute("01_explore_sales.ipynb", kernel, tmp_path, lake=str(lake), report=str(report))
    assert_ran_on(book, lake)
    assert_every_chart_drawn(book, expected=6)
    rows_read = json.loads(report.read_text())["rows_read"]
    accounting = next(c for c in code_cells(book) if "row_accounting" in c.source)
    assert f"{rows_read}" in outputs_of(accounting, "text/plain")[0]


def test_customers_rfm_notebook_runs_on_a_generated_lake(generated_lake, kernel, tmp_path):
    lake, _ = generated_lake
    book = execute("02_customers_rfm.ipynb", kernel, tmp_path, lake=str(lake))
    assert_ran_on(book, lake)
    assert_every_chart_drawn(book, expected=2)
