"""Run the batch benchmark: our batch core against a naive PySpark job, pandas and DuckDB.

    python -m bench.run [--sizes 1,10,30] [--runs 3] [--only ours,pyspark,pandas,duckdb]

For every size, the implementations run side by side in this invocation, each as its own whole
process, `--runs` times in rotating order; the medians, the ratios and the issue's targets go to
`bench/results/<date>-<host>.json` and a table on stdout. Before each run the harness waits until
the machine is quiet (`--max-load`, `--max-foreign`), and it records the load of every run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.baselines import COUNTS_PREFIX
from bench.inputs import BenchInput, build_inputs, describe
from bench.measure import Measurement, become_subreaper, foreign_busy_cores, run_measured

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path(os.environ.get("ECOMFLOW_REAL_DATA", ROOT.parent / "shared" / "data" / "online_retail.csv.gz"))
DEFAULT_SCRATCH = Path(os.environ.get("ECOMFLOW_BENCH_SCRATCH", "/tmp/ecomflow-bench"))
COUNT_FIELDS = ("rows_read", "rows_curated", "rows_quarantined", "duplicates_dropped")
# Curated row counts may differ by this share between implementations (rule differences, see docs).
COUNT_TOLERANCE = 0.001
# A run is quiet when everything else on the machine used at most this many cores meanwhile.
QUIET_FOREIGN_CORES = 0.5
TARGETS = {
    "ours_vs_pyspark_wall_x1": 0.6,
    "ours_vs_pyspark_wall_x10": 0.6,
    "ours_vs_duckdb_wall_x10": 4.0,
    "ours_rss_x30_vs_x10": 1.2,
}


@dataclass(frozen=True)
class Implementation:
    """How to run one implementation and read its counts back."""

    name: str
    description: str
    command: Callable[[str, Path], list[str]]
    counts: Callable[[Measurement, Path], dict]


def _baseline(module: str) -> Callable[[str, Path], list[str]]:
    return lambda input_path, out: [sys.executable, "-m", module, "--input", input_path, "--out", str(out / "lake")]


def _printed_counts(measurement: Measurement, out: Path) -> dict:
    for line in measurement.stdout.splitlines():
        if line.startswith(COUNTS_PREFIX):
            return json.loads(line[len(COUNTS_PREFIX):])
    return {}


def _ours_command(input_path: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "ecomflow.cli.main", "--log-level", "WARNING", "batch", "--input", input_path,
            "--lake", str(out / "lake"), "--report", str(out / "report.json")]


def _ours_counts(measurement: Measurement, out: Path) -> dict:
    report_path = out / "report.json"
    if not report_path.exists():
        return {}
    report = json.loads(report_path.read_text())
    counts = {name: report[name] for name in COUNT_FIELDS}
    counts["line_types"] = dict(sorted(report.get("line_types", {}).items()))
    return counts


def _ours_ungated_command(input_path: str, out: Path) -> list[str]:
    return [*_ours_command(input_path, out), "--quality_gate", "off"]


IMPLEMENTATIONS: dict[str, Implementation] = {
    "ours": Implementation("ours", "ecomflow batch (lib/ecomflow/pipelines/batch.py), fresh lake",
                           _ours_command, _ours_counts),
    "pyspark": Implementation("pyspark", "naive PySpark (bench/baselines/pyspark_naive.py)",
                              _baseline("bench.baselines.pyspark_naive"), _printed_counts),
    "pandas": Implementation("pandas", "pandas, chunked (bench/baselines/pandas_impl.py)",
                             _baseline("bench.baselines.pandas_impl"), _printed_counts),
    "duckdb": Implementation("duckdb", "DuckDB (bench/baselines/duckdb_impl.py)",
                             _baseline("bench.baselines.duckdb_impl"), _printed_counts),
    # Not run by default: what the great-expectations gate costs (the same job, published unaudited).
    "ours-nogate": Implementation("ours-nogate", "ecomflow batch --quality_gate off", _ours_ungated_command,
                                  _ours_counts),
}
DEFAULT_IMPLEMENTATIONS = ("ours", "pyspark", "pandas", "duckdb")


@dataclass
class RunRecord:
    impl: str
    size: int
    run: int
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    peak_anon_rss_mb: float
    load_before: float
    foreign_cores: float
    counts: dict = field(default_factory=dict)
    error_tail: str = ""
    superseded: bool = False  # disturbed by other processes and measured again; not in the medians


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,30", help="input sizes as multiples of the real file")
    parser.add_argument("--runs", type=int, default=3, help="runs per implementation and size (median)")
    parser.add_argument("--only", default=",".join(DEFAULT_IMPLEMENTATIONS),
                        help=f"implementations to run, of {', '.join(IMPLEMENTATIONS)}")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the x1 input (default: the real file)")
    parser.add_argument("--scratch", type=Path, default=DEFAULT_SCRATCH, help="inputs and outputs (outside the repo)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--max-load", type=float, default=1.5,
                        help="wait for the 1-minute load average to drop to this before starting (0: do not wait)")
    parser.add_argument("--max-foreign", type=float, default=0.5,
                        help="before each run, wait until other processes use at most this many cores (0: do not wait)")
    parser.add_argument("--quiet-timeout", type=float, default=1800.0,
                        help="seconds to wait for quiet in total; after that --on-busy decides")
    parser.add_argument("--on-busy", choices=("abort", "measure"), default="abort",
                        help="when the quiet timeout passes: stop and keep what was measured (default), "
                        "or measure anyway and mark the results noisy")
    parser.add_argument("--retry-noisy", type=int, default=1,
                        help="measure a run again (at most this many times) when other processes used more "
                        f"than {QUIET_FOREIGN_CORES} cores during it; every attempt is kept in the JSON")
    parser.add_argument("--run-timeout", type=float, default=3600.0)
    parser.add_argument("--sample-interval", type=float, default=0.05)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(IMPLEMENTATIONS)
    if unknown:
        parser.error(f"unknown implementations: {', '.join(sorted(unknown))} (known: {', '.join(IMPLEMENTATIONS)})")
    return args


class QuietGate:
    """Waits until the machine is quiet enough to measure, within one overall time budget."""

    def __init__(self, max_load: float, max_foreign: float, budget: float) -> None:
        self.max_load, self.max_foreign = max_load, max_foreign
        self.deadline = time.monotonic() + budget
        self.waited_s = 0.0
        self.gave_up = False

    def _wait(self, quiet: Callable[[], tuple[bool, str]]) -> None:
        started = time.monotonic()
        while True:
            ok, what = quiet()
            if ok:
                break
            if time.monotonic() >= self.deadline:
                if not self.gave_up:
                    log.warning("machine still busy (%s) after the quiet timeout: measuring anyway", what)
                self.gave_up = True
                break
            log.info("waiting for a quiet machine (%s)", what)
            time.sleep(10)
        self.waited_s += time.monotonic() - started

    def before_all(self) -> None:
        if self.max_load > 0:
            self._wait(lambda: (os.getloadavg()[0] <= self.max_load, f"load {os.getloadavg()[0]:.2f}"))

    def before_run(self) -> None:
        if self.max_foreign > 0:
            def check() -> tuple[bool, str]:
                cores = foreign_busy_cores(2.0)
                return cores <= self.max_foreign, f"{cores:.2f} cores busy elsewhere"
            self._wait(check)


def command_version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "unknown"


def machine_info() -> dict:
    import duckdb
    import pandas
    import pyarrow
    import pyspark

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": socket.gethostname(), "cpu_model": model, "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "kernel": platform.release(),
        "python": platform.python_version(), "java": command_version(["java", "-version"]),
        "pyspark": pyspark.__version__, "duckdb": duckdb.__version__, "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
    }


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.setdefault("PYTHONHASHSEED", "0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_one(impl: Implementation, item: BenchInput, run: int, scratch: Path, args: argparse.Namespace) -> RunRecord:
    out = scratch / "out" / f"{impl.name}-x{item.size}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    measurement = run_measured(impl.command(item.path, out), env=child_env(), cwd=str(ROOT),
                               interval=args.sample_interval, timeout=args.run_timeout)
    counts = impl.counts(measurement, out) if measurement.returncode == 0 else {}
    record = RunRecord(impl=impl.name, size=item.size, run=run, returncode=measurement.returncode,
                       wall_s=round(measurement.wall_s, 3), cpu_s=round(measurement.cpu_s, 3),
                       peak_rss_mb=round(measurement.peak_rss_mb, 1),
                       peak_anon_rss_mb=round(measurement.peak_anon_rss_mb, 1),
                       load_before=round(measurement.load_before, 2),
                       foreign_cores=round(measurement.foreign_cores, 2), counts=counts)
    if measurement.returncode != 0 or not counts:
        record.error_tail = (measurement.stderr[-2000:] + measurement.stdout[-500:]).strip()
        log.error("%s x%d run %d failed (rc %d): %s", impl.name, item.size, run, measurement.returncode,
                  record.error_tail[-600:])
    shutil.rmtree(out, ignore_errors=True)
    log.info("%-8s x%-3d run %d: wall %.1fs cpu %.1fs rss %.0fMB (load %.2f, others %.2f cores) curated %s",
             impl.name, item.size, run, record.wall_s, record.cpu_s, record.peak_rss_mb, record.load_before,
             record.foreign_cores, counts.get("rows_curated"))
    return record


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarise(records: list[RunRecord], sizes: list[int], names: list[str]) -> list[dict]:
    summary = []
    for size in sizes:
        for name in names:
            mine = [r for r in records if r.impl == name and r.size == size and not r.superseded]
            ok = [r for r in mine if r.returncode == 0 and r.counts]
            failed = len(mine) - len(ok)
            summary.append({
                "impl": name, "size": size, "runs_ok": len(ok), "runs_failed": failed,
                "wall_s": median([r.wall_s for r in ok]), "cpu_s": median([r.cpu_s for r in ok]),
                "peak_rss_mb": median([r.peak_rss_mb for r in ok]),
                "peak_anon_rss_mb": median([r.peak_anon_rss_mb for r in ok if r.peak_anon_rss_mb is not None]),
                "max_foreign_cores": max((r.foreign_cores for r in ok), default=None),
                "max_load_before": max((r.load_before for r in ok), default=None),
                "counts": ok[-1].counts if ok else {},
            })
    return summary


def _cell(summary: list[dict], name: str, size: int, key: str) -> float | None:
    for row in summary:
        if row["impl"] == name and row["size"] == size:
            return row[key]
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(summary: list[dict], sizes: list[int]) -> tuple[dict, dict, list[str]]:
    """Ratios per size, the targets of the issue, and disagreements in the row counts."""
    ratios = {}
    for size in sizes:
        wall = {n: _cell(summary, n, size, "wall_s") for n in IMPLEMENTATIONS}
        cpu = {n: _cell(summary, n, size, "cpu_s") for n in IMPLEMENTATIONS}
        ratios[f"x{size}"] = {
            "ours_vs_pyspark_wall": ratio(wall["ours"], wall["pyspark"]),
            "ours_vs_duckdb_wall": ratio(wall["ours"], wall["duckdb"]),
            "ours_vs_pandas_wall": ratio(wall["ours"], wall["pandas"]),
            "nogate_vs_ours_wall": ratio(wall["ours-nogate"], wall["ours"]),
            "nogate_vs_pyspark_wall": ratio(wall["ours-nogate"], wall["pyspark"]),
            "ours_vs_pyspark_cpu": ratio(cpu["ours"], cpu["pyspark"]),
            "ours_vs_duckdb_cpu": ratio(cpu["ours"], cpu["duckdb"]),
        }
    values = {
        "ours_vs_pyspark_wall_x1": ratios.get("x1", {}).get("ours_vs_pyspark_wall"),
        "ours_vs_pyspark_wall_x10": ratios.get("x10", {}).get("ours_vs_pyspark_wall"),
        "ours_vs_duckdb_wall_x10": ratios.get("x10", {}).get("ours_vs_duckdb_wall"),
        "ours_rss_x30_vs_x10": ratio(_cell(summary, "ours", 30, "peak_rss_mb"),
                                     _cell(summary, "ours", 10, "peak_rss_mb")),
    }
    ratios["ours_anon_rss_x30_vs_x10"] = ratio(_cell(summary, "ours", 30, "peak_anon_rss_mb"),
                                               _cell(summary, "ours", 10, "peak_anon_rss_mb"))
    targets = {name: {"target": limit, "value": values[name],
                      "met": None if values[name] is None else values[name] <= limit}
               for name, limit in TARGETS.items()}
    problems = []
    for size in sizes:
        counted = {r["impl"]: r["counts"] for r in summary if r["size"] == size and r["counts"]}
        if not counted:
            continue
        reference_name = "ours" if "ours" in counted else sorted(counted)[0]
        reference = counted[reference_name]["rows_curated"]
        for name, counts in counted.items():
            if counts["rows_read"] != counted[reference_name]["rows_read"]:
                problems.append(f"x{size}: {name} read {counts['rows_read']} rows, "
                                f"{reference_name} {counted[reference_name]['rows_read']}")
            if reference and abs(counts["rows_curated"] - reference) / reference > COUNT_TOLERANCE:
                problems.append(f"x{size}: {name} curated {counts['rows_curated']} rows, "
                                f"{reference_name} {reference}")
    return ratios, targets, problems


def print_table(summary: list[dict], ratios: dict, targets: dict, problems: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table(title="Batch benchmark (medians; whole process)")
    for column in ("size", "impl", "wall s", "cpu s", "peak RSS MB", "anon MB", "rows curated", "dups", "runs",
                   "others' cores (max)", "ours / this"):
        table.add_column(column, justify="left" if column in ("size", "impl") else "right")
    for row in summary:
        ours_wall = _cell(summary, "ours", row["size"], "wall_s")
        vs = ratio(ours_wall, row["wall_s"]) if row["impl"] != "ours" else None
        fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
        table.add_row(f"x{row['size']}", row["impl"], fmt(row["wall_s"], ".1f"), fmt(row["cpu_s"], ".1f"),
                      fmt(row["peak_rss_mb"], ".0f"), fmt(row.get("peak_anon_rss_mb"), ".0f"),
                      fmt(row["counts"].get("rows_curated"), ","),
                      fmt(row["counts"].get("duplicates_dropped"), ","),
                      f"{row['runs_ok']}" + (f" ({row['runs_failed']} failed)" if row["runs_failed"] else ""),
                      fmt(row["max_foreign_cores"], ".2f"), "" if vs is None else f"{vs:.2f}")
    console.print(table)
    target_table = Table(title="Targets (issue 6)")
    for column in ("target", "limit", "value", "met"):
        target_table.add_column(column)
    for name, item in targets.items():
        target_table.add_row(name, f"<= {item['target']}", "" if item["value"] is None else f"{item['value']:.2f}",
                             {True: "yes", False: "NO", None: "n/a"}[item["met"]])
    console.print(target_table)
    for problem in problems:
        console.print(f"[bold red]count mismatch:[/] {problem}")


def results_path(results_dir: Path, host: str, when: datetime) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{when:%Y-%m-%d}-{host}.json"
    if path.exists():
        path = results_dir / f"{when:%Y-%m-%d}-{host}-{when:%H%M%S}.json"
    return path


def build_result(args: argparse.Namespace, status: str, started: datetime, machine: dict, inputs: dict,
                 gate: QuietGate, load_at_start: tuple, names: list[str], records: list[RunRecord],
                 subreaper: bool) -> tuple[dict, list[dict], dict, dict, list[str]]:
    summary = summarise(records, args.sizes, names)
    ratios, targets, problems = compare(summary, args.sizes)
    result = {
        "status": status,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {"sizes": args.sizes, "runs": args.runs, "only": names, "source": str(args.source),
                   "scratch": str(args.scratch), "max_load": args.max_load, "max_foreign": args.max_foreign,
                   "sample_interval_s": args.sample_interval, "subreaper": subreaper},
        "load": {"at_start": [round(v, 2) for v in load_at_start],
                 "at_end": [round(v, 2) for v in os.getloadavg()],
                 "waited_for_quiet_s": round(gate.waited_s, 1),
                 # Noisy: other processes took more than QUIET_FOREIGN_CORES during some run.
                 "noisy": gate.gave_up or any(r.foreign_cores > QUIET_FOREIGN_CORES
                                              for r in records if not r.superseded),
                 "max_foreign_cores": max((r.foreign_cores for r in records if not r.superseded), default=None),
                 "runs_measured_again": sum(1 for r in records if r.superseded)},
        "implementations": {n: IMPLEMENTATIONS[n].description for n in names},
        "inputs": describe(inputs),
        "summary": summary,
        "ratios": ratios,
        "targets": targets,
        "count_mismatches": problems,
        "runs": [asdict(r) for r in records],
    }
    return result, summary, ratios, targets, problems


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    subreaper = become_subreaper()
    started = datetime.now(UTC)
    machine = machine_info()
    path = results_path(args.results_dir, machine["host"], started)
    inputs = build_inputs(args.source, args.sizes, args.scratch)
    gate = QuietGate(args.max_load, args.max_foreign, args.quiet_timeout)
    gate.before_all()
    load_at_start = os.getloadavg()
    records: list[RunRecord] = []
    names = [n for n in IMPLEMENTATIONS if n in args.only]
    aborted = None
    for size in args.sizes:
        for run in range(args.runs):
            # Rotate the order so no implementation always runs first (cold cache) or last.
            order = names[run % len(names):] + names[:run % len(names)]
            for name in order:
                if aborted is None:
                    gate.before_run()
                    if gate.gave_up and args.on_busy == "abort":
                        aborted = f"machine busy before {name} x{size} run {run}; stopped (--on-busy abort)"
                        log.error("%s", aborted)
                for attempt in range(args.retry_noisy + 1):
                    if aborted is not None:
                        break
                    record = run_one(IMPLEMENTATIONS[name], inputs[size], run, args.scratch, args)
                    records.append(record)
                    if record.foreign_cores > QUIET_FOREIGN_CORES and attempt < args.retry_noisy:
                        record.superseded = True
                    # Written after every run, so an interrupted benchmark keeps what it measured.
                    result = build_result(args, "running", started, machine, inputs, gate, load_at_start,
                                          names, records, subreaper)[0]
                    path.write_text(json.dumps(result, indent=2) + "\n")
                    if record.foreign_cores <= QUIET_FOREIGN_CORES or attempt == args.retry_noisy:
                        break
                    log.warning("%s x%d run %d was disturbed (%.2f cores used elsewhere): measuring again",
                                name, size, run, record.foreign_cores)
                    gate.before_run()
                    if gate.gave_up and args.on_busy == "abort":
                        aborted = f"machine busy before {name} x{size} run {run} (retry); stopped"
    result, summary, ratios, targets, problems = build_result(
        args, aborted or "complete", started, machine, inputs, gate, load_at_start, names, records, subreaper)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print_table(summary, ratios, targets, problems)
    print(f"results: {path}")
    failed = any(r.returncode != 0 or not r.counts for r in records)
    if aborted:
        print(f"INCOMPLETE: {aborted}")
        return 3
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
