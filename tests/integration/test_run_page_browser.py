"""A run's page opens in a real headless browser (Debian's chromium): it loads, logs nothing to the console, and
shows the run's numbers, the gate's checks and the charts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ecomflow.analytics.run_page import page_path, write_run_page
from ecomflow.app.batch_job import keep_report
from ecomflow.config import parse_batch_config
from ecomflow.devtools.generate import generate_file
from ecomflow.pipelines.batch import run_batch
from ecomflow.pipelines.quality import QualityGate
from ecomflow.runtime import Runtime

pytestmark = pytest.mark.integration


def chromium() -> str:
    """Debian's chromium (scripts/install-os-deps.sh installs it, so `make setup` gives CI one)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium not found: run scripts/install-os-deps.sh (Debian package chromium)", pytrace=False)
    return found


def open_in_chromium(page: Path) -> tuple[str, list[str]]:
    """The page's DOM after it loaded and ran its script, and what it logged to the console."""
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


@pytest.fixture(scope="module")
def published_lake(spark, local_stack, tmp_path_factory) -> tuple[Path, dict]:
    """A lake with one published run (through the quality gate) and its report kept in the lake."""
    folder = tmp_path_factory.mktemp("run-page")
    raw = folder / "retail.csv"
    generate_file(str(raw), rows=2000, seed=13, malformed_rate=0.003)
    config = parse_batch_config(["batch", "--input", str(raw), "--lake", str(folder / "lake")])
    report = run_batch(Runtime(spark=spark), config, gate=QualityGate())
    keep_report(spark, report)
    return folder / "lake", json.loads(report.to_json())


def test_the_page_opens_without_console_errors_and_shows_the_runs_numbers(published_lake):
    lake, report = published_lake
    page = write_run_page(lake)
    assert page == page_path(lake, report["run_id"])
    dom, console = open_in_chromium(page)
    assert console == []
    assert 'data-ready="yes"' in dom  # the page's script ran to its end
    assert report["run_id"] in dom and "published" in dom
    for count in ("rows_read", "rows_curated", "rows_quarantined", "duplicates_dropped"):
        assert f">{report[count]:,}<" in dom, count
    assert f"£{float(report['revenue_curated']):,.2f}" in dom
    for check in report["quality"]["checks"]:
        assert check.replace("<", "&lt;").replace(">", "&gt;") in dom or check in dom
    assert dom.count('<td class="pass">passed</td>') == len(report["quality"]["checks"])
    assert dom.count("<svg") >= 7 and "Revenue by month" in dom and "Monthly cohort retention" in dom


def test_the_chromium_check_catches_a_broken_page(tmp_path):
    """The console check is not vacuous: a script error is seen."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    _, console = open_in_chromium(page)
    assert any("Uncaught ReferenceError" in line for line in console)


def test_ecomflow_batch_writes_the_page_beside_the_run(local_stack, tmp_path):
    import os
    import sys

    lib = Path(__file__).resolve().parents[2] / "lib"
    raw = tmp_path / "retail.csv"
    generate_file(str(raw), rows=800, seed=17)
    env = {**os.environ, "PYTHONPATH": f"{lib}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run([sys.executable, "-m", "ecomflow.cli.main", "batch", "--input", str(raw), "--lake",
                           str(tmp_path / "lake"), "--json"], capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    page = tmp_path / "lake" / "_reports" / run_id / "index.html"
    assert page.is_file() and str(page) in done.stderr
    dom, console = open_in_chromium(page)
    assert console == [] and run_id in dom
