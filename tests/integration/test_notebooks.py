"""The notebooks, executed with papermill on a small generated lake built by the batch job."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from ecomflow.app.batch_job import keep_report
from ecomflow.config import parse_batch_config
from ecomflow.devtools.generate import generate_file
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL = "ecomflow-notebook-tests"


@pytest.fixture(scope="module")
def generated_lake(spark, local_stack, tmp_path_factory) -> tuple[Path, Path]:
    """A lake and its run report from 3,000 generated lines (with malformed ones, so quarantine is not empty)."""
    folder = tmp_path_factory.mktemp("notebook-lake")
    raw = folder / "retail.csv"
    generate_file(str(raw), rows=3000, seed=11, malformed_rate=0.003)
    config = parse_batch_config(["batch", "--input", str(raw), "--lake", str(folder / "lake"),
                                 "--report", str(folder / "report.json")])
    report = run_batch(Runtime(spark=spark), config)
    report.write(config.report_path)
    keep_report(spark, report)  # as the batch job does: <lake>/_reports/<run_id>/report.json
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


# Cells added to a copy of a notebook: before every other cell's figures are shown (and closed by the inline
# backend), a post_execute hook records what each figure says: titles, axis labels, scales, limits, tick
# labels, and the texts under it; the last cell prints them.
FACTS_HOOK = """
import json as _json
import matplotlib.pyplot as _plt
_FIGURE_FACTS = []

def _figure_facts(*_):
    for number in _plt.get_fignums():
        fig = _plt.figure(number)
        if getattr(fig, "_facts_taken", False):
            continue
        fig._facts_taken = True
        fig.canvas.draw()
        axes = [{"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                 "xscale": ax.get_xscale(), "yscale": ax.get_yscale(),
                 "xlim": [float(v) for v in ax.get_xlim()], "ylim": [float(v) for v in ax.get_ylim()],
                 "xticks": [t.get_text() for t in ax.get_xticklabels()],
                 "yticks": [t.get_text() for t in ax.get_yticklabels()]}
                for ax in fig.axes if ax.get_label() != "<colorbar>"]
        _FIGURE_FACTS.append({"axes": axes, "texts": [t.get_text() for t in fig.texts]})

get_ipython().events.callbacks["post_execute"].insert(0, _figure_facts)
"""
FACTS_PRINT = 'print("FIGURE-FACTS " + _json.dumps(_FIGURE_FACTS))'


def execute(name: str, kernel: str, out_dir: Path, **parameters: str) -> nbformat.NotebookNode:
    """Run one notebook with papermill (a failing cell raises PapermillExecutionError) and read the result.

    The copy that runs has the figure-facts cells added (`FACTS_HOOK`, `FACTS_PRINT`); `figure_facts` reads them.
    """
    import papermill

    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    book.cells.insert(0, nbformat.v4.new_code_cell(FACTS_HOOK, metadata={"tags": ["facts"]}))
    book.cells.append(nbformat.v4.new_code_cell(FACTS_PRINT, metadata={"tags": ["facts"]}))
    source = out_dir / f"with-facts-{name}"
    nbformat.write(book, source)
    output = out_dir / name
    papermill.execute_notebook(str(source), str(output), parameters=parameters, kernel_name=kernel,
                               cwd=str(out_dir), progress_bar=False, log_output=False, execution_timeout=600)
    return nbformat.read(output, as_version=4)


def figure_facts(book: nbformat.NotebookNode) -> list[dict]:
    """What each figure of an executed notebook says (see `FACTS_HOOK`)."""
    [cell] = code_cells(book, "facts")[-1:]
    [text] = [o["text"] for o in cell.outputs if o.get("name") == "stdout"]
    return json.loads(text.split("FIGURE-FACTS ", 1)[1])


def assert_charts_read_right(facts: list[dict], expected: int) -> None:
    """Every figure: a title and axis labels on each chart, no log scale, a sentence under it saying how to read
    it; a £ or % axis has £ or % ticks and starts at zero."""
    assert len(facts) == expected, [f["axes"][0]["title"] for f in facts]
    for figure in facts:
        assert any(len(text) >= 40 for text in figure["texts"]), f"no caption under {figure['axes'][0]['title']}"
        for ax in figure["axes"]:
            name = ax["title"]
            assert name and ax["xlabel"] and ax["ylabel"], ax
            assert ax["xscale"] == "linear" and ax["yscale"] == "linear", name
            for axis in ("x", "y"):
                label, ticks, low = ax[f"{axis}label"], " ".join(ax[f"{axis}ticks"]), ax[f"{axis}lim"][0]
                for unit in ("£", "%"):
                    if unit in label and "months since" not in label:
                        assert unit in ticks, (name, axis, ticks)
                        assert low <= 0, (name, axis, ax[f"{axis}lim"])  # from zero


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
    facts = figure_facts(book)
    assert_charts_read_right(facts, expected=6)
    monthly = next(f for f in facts if f["axes"][0]["title"] == "Revenue by month")
    caption = " ".join(monthly["texts"])  # the generated data ends on 9 December 2011, as the real file does
    assert "partial month" in caption and re.search(r"2011-12 \(days \d+-9 of 31\)", caption), caption
    countries = next(f for f in facts if f["axes"][0]["title"].startswith("Share of net revenue by country"))
    assert "United Kingdom takes" in " ".join(countries["texts"])
    rows_read = json.loads(report.read_text())["rows_read"]
    accounting = next(c for c in code_cells(book) if "row_accounting" in c.source)
    assert f"{rows_read}" in outputs_of(accounting, "text/plain")[0]


def test_customers_rfm_notebook_runs_on_a_generated_lake(generated_lake, kernel, tmp_path):
    lake, _ = generated_lake
    book = execute("02_customers_rfm.ipynb", kernel, tmp_path, lake=str(lake))
    assert_ran_on(book, lake)
    assert_every_chart_drawn(book, expected=2)
    facts = figure_facts(book)
    assert_charts_read_right(facts, expected=2)
    heatmap = facts[-1]["axes"][0]
    assert heatmap["xticks"][0] == "1"  # month 0 (100 % by definition) is left out
    assert all("(n=" in label for label in heatmap["yticks"])  # cohort sizes


def test_notebook_01_finds_the_run_report_in_the_lake(generated_lake, kernel, tmp_path):
    """Without `report`, the first notebook uses the report the batch job kept in the lake."""
    lake, report = generated_lake
    book = execute("01_explore_sales.ipynb", kernel, tmp_path, lake=str(lake))
    rows_read = json.loads(report.read_text())["rows_read"]
    accounting = next(c for c in code_cells(book) if "row_accounting" in c.source)
    assert "_reports" in "".join(o.get("text", "") for o in accounting.outputs)
    assert f"{rows_read}" in outputs_of(accounting, "text/plain")[0]
