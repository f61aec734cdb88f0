"""The benchmark harness plumbing (`bench/`): every implementation agrees on a tiny hand-made file.

No timing is asserted: the harness runs each implementation once as its own process (two of them
start a JVM) and the test checks the counts and the shape of the results JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Seven lines: one exact duplicate (trailing spaces differ: the same line once trimmed), a
# cancellation, two service lines (POST, and D on the cancellation), a line without customer and
# description, and a quoted description with a comma.
TINY_CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
536365,71053,WHITE METAL LANTERN ,6,12/1/2010 8:26,3.39,17850,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom
536370,POST,POSTAGE,3,12/1/2010 8:45,18,12583,France
536414,22139,,56,12/1/2010 11:52,0,,United Kingdom
537000,22140,"SET OF 3, CAKE TINS",2,1/4/2011 10:00,4.95,13047,United Kingdom
"""
IMPLEMENTATIONS = ("ours", "pyspark", "pandas", "duckdb")


@pytest.fixture(scope="module")
def bench_result(local_stack, tmp_path_factory) -> dict:
    """One harness run (x1, one run, no quiet gate) over the tiny file; the parsed results JSON."""
    work = tmp_path_factory.mktemp("bench")
    source = work / "tiny.csv"
    source.write_text(TINY_CSV, encoding="ISO-8859-1")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--source", str(source), "--sizes", "1", "--runs", "1",
         "--only", ",".join(IMPLEMENTATIONS), "--scratch", str(work / "scratch"),
         "--results-dir", str(work / "results"), "--max-load", "0", "--max-foreign", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    [results_file] = (work / "results").glob("*.json")
    return json.loads(results_file.read_text())


def test_every_implementation_keeps_the_same_curated_rows(bench_result):
    counts = {row["impl"]: row["counts"] for row in bench_result["summary"]}

    assert sorted(counts) == sorted(IMPLEMENTATIONS)
    for name, got in counts.items():
        assert (name, got["rows_read"], got["rows_curated"], got["duplicates_dropped"]) == (name, 7, 6, 1)
    assert bench_result["count_mismatches"] == []


def test_every_implementation_classifies_the_cancellation_and_the_service_line(bench_result):
    for row in bench_result["summary"]:
        types = row["counts"]["line_types"]
        assert (row["impl"], types.get("cancellation"), types.get("service"), types.get("sale")) == (
            row["impl"], 1, 1, 4)


def test_results_json_has_the_measurements_and_the_context(bench_result):
    assert {"machine", "config", "load", "inputs", "summary", "ratios", "targets", "runs"} <= set(bench_result)
    assert bench_result["inputs"]["x1"]["rows"] == 7
    assert set(bench_result["targets"]) == {"ours_vs_pyspark_wall_x1", "ours_vs_pyspark_wall_x10",
                                            "ours_vs_duckdb_wall_x10", "ours_rss_x30_vs_x10"}
    for run in bench_result["runs"]:
        assert run["returncode"] == 0
        assert run["wall_s"] > 0 and run["cpu_s"] > 0 and run["peak_rss_mb"] > 0
        assert {"load_before", "foreign_cores", "counts"} <= set(run)
    assert bench_result["ratios"]["x1"]["ours_vs_pyspark_wall"] is not None


def test_replicated_lines_keep_their_type_and_stay_distinct(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # `bench` is a top-level package of the repo, not installed
    from bench.inputs import shift_invoice

    assert shift_invoice(b"536365,85123A\n", 0) == b"536365,85123A\n"
    assert shift_invoice(b"536365,85123A\n", 12) == b"12536365,85123A\n"
    assert shift_invoice(b"C536379,D\n", 3) == b"C3536379,D\n"
    assert shift_invoice(b"A563185,B\n", 3) == b"A3563185,B\n"


# A process holding 256 MB that forks a child which does not exec: the fork shows the same pages.
FORKING_CHILD = """
import os, sys
held = bytearray(256 * 2**20)
for i in range(0, len(held), 4096):
    held[i] = 1
if os.fork() == 0:
    sys.stdin.read()
    os._exit(0)
print("forked", flush=True)
sys.stdin.read()
"""
# A harness of its own (the test process has other children: the JVM, the local stack): it starts
# FORKING_CHILD and prints what `_tree_rss` counts of its descendants, with FORK_AGE_S = argv[1].
HARNESS = """
import subprocess, sys
import psutil
from bench import measure
measure.FORK_AGE_S = float(sys.argv[1])
child = subprocess.Popen([sys.executable, "-c", sys.argv[2]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "forked"
print(measure._tree_rss(psutil.Process())[0])
child.communicate("")
"""


@pytest.mark.parametrize("fork_age_s, counted_twice", [(3600.0, False), (0.0, True)])
def test_tree_rss_does_not_count_a_fork_that_has_not_execd(fork_age_s, counted_twice):
    done = subprocess.run([sys.executable, "-c", HARNESS, str(fork_age_s), FORKING_CHILD], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    total, held = int(done.stdout), 256 * 2**20
    assert total > 0.9 * held, "the command itself is counted, young as it is and running the harness's Python"
    assert (total > 1.8 * held) is counted_twice, f"{total / 2**20:.0f} MB for a 256 MB process and its fork"
