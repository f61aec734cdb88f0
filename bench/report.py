"""Render a results JSON of `bench.run` as the markdown tables of docs/benchmarks.md.

    python -m bench.report bench/results/<date>-<host>.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path


def fmt(value: object, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render(result: dict) -> str:
    load = result["load"]
    lines = [
        f"Results file `{result.get('_path', '')}`, status **{result['status']}**, "
        f"{result['started']} → {result['finished']} (UTC); {result['config']['runs']} runs per cell, medians.",
        f"Load: 1/5/15-min load average at start {load['at_start']}, at end {load['at_end']}; CPU used by other "
        f"processes during any run at most {fmt(load['max_foreign_cores'], '.2f')} cores; "
        f"{'NOISY' if load['noisy'] else 'quiet'}; waited {load['waited_for_quiet_s']} s for quiet.",
        "",
        "| size | rows | impl | wall s | CPU s | peak RSS MB | of it anon MB | rows curated | duplicates | quarantined "
        "| ours ÷ this (wall) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    inputs = result["inputs"]
    for row in result["summary"]:
        if not row["runs_ok"]:
            continue
        ours = next((r["wall_s"] for r in result["summary"]
                     if r["impl"] == "ours" and r["size"] == row["size"] and r["wall_s"]), None)
        vs = "" if row["impl"] == "ours" or ours is None else f"{ours / row['wall_s']:.2f}"
        counts = row["counts"]
        rows = inputs[f"x{row['size']}"]["rows"]
        lines.append(
            f"| x{row['size']} | {rows:,} | {row['impl']} | "
            f"{fmt(row['wall_s'], '.1f')} | {fmt(row['cpu_s'], '.1f')} | {fmt(row['peak_rss_mb'], '.0f')} | "
            f"{fmt(row.get('peak_anon_rss_mb'), '.0f')} | "
            f"{fmt(counts.get('rows_curated'), ',')} | {fmt(counts.get('duplicates_dropped'), ',')} | "
            f"{fmt(counts.get('rows_quarantined'), ',')} | {vs} |")
    lines += ["", "| target | limit | measured | met |", "|---|---:|---:|---|"]
    for name, item in result["targets"].items():
        met = {True: "yes", False: "**no**", None: "not measured"}[item["met"]]
        lines.append(f"| {name} | ≤ {item['target']} | {fmt(item['value'], '.2f')} | {met} |")
    if result["count_mismatches"]:
        lines += ["", "Count mismatches: " + "; ".join(result["count_mismatches"])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for name in argv:
        result = json.loads(Path(name).read_text())
        result["_path"] = name
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
