"""What `ecomflow batch` and `ecomflow stream` say when they end: a few sentences, not a JSON document.

The full report is JSON (`--report FILE`, `--json`); the summary is for the person at the terminal:
rows read and where they went, revenue in pounds, partitions, the quality gate's result, elapsed time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any


def pounds(amount: str | Decimal | float | int | None) -> str:
    """`£1,234,567.89` (two decimals, thousands separated; a negative amount as `-£12.50`)."""
    try:
        value = Decimal(str(amount if amount is not None else 0))
    except InvalidOperation:
        return str(amount)
    text = f"£{abs(value):,.2f}"
    return f"-{text}" if value < 0 else text


def elapsed(seconds: float) -> str:
    """`4.2 s`, `1 min 05 s`, `1 h 02 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`, `1,234 partitions`."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def _by_name(counts: Mapping[str, int]) -> str:
    shown = [(name, n) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n]
    return ", ".join(f"{name} {n:,}" for name, n in shown)


def partition_span(partitions: Sequence[str]) -> str:
    """`2010-12 to 2011-12` from `year=2010/month=12`-style names (as they sort by time), or ``."""
    months = []
    for name in partitions:
        parts = dict(part.split("=", 1) for part in name.split("/") if "=" in part)
        if "year" in parts and "month" in parts and parts["year"].isdigit() and parts["month"].isdigit():
            months.append((int(parts["year"]), int(parts["month"])))
    if not months:
        return ""
    first, last = min(months), max(months)
    text = f"{first[0]:04d}-{first[1]:02d}"
    return text if first == last else f"{text} to {last[0]:04d}-{last[1]:02d}"


def gate_sentence(quality: Mapping[str, Any] | None, enabled: bool = True) -> str:
    """`Quality gate passed: 42 checks in 9.9 s.` / `... FAILED ...` / `Quality gate off ...`."""
    if not quality:
        return ("Quality gate off (--quality_gate off): published unaudited." if not enabled
                else "Quality gate: no result.")
    evaluated = int(quality.get("evaluated") or 0)
    seconds = float(quality.get("seconds") or 0.0)
    failed = list(quality.get("failed") or [])
    if quality.get("success"):
        return f"Quality gate passed: {plural(evaluated, 'check')} in {elapsed(seconds)}."
    return (f"Quality gate FAILED: {len(failed):,} of {plural(evaluated, 'check')} failed "
            f"({'; '.join(failed)}).")


def batch_summary(report: Mapping[str, Any] | None, seconds: float, published: bool,
                  report_places: Sequence[str] = (), gate_enabled: bool = True) -> str:
    """The end of `ecomflow batch` in words.

    Args:
        report: the run report as a dict (`RunReport` fields); None when the run stopped before one.
        seconds: the command's elapsed time.
        published: whether the run was published (False: the gate stopped it).
        report_places: where the full JSON report was written.
        gate_enabled: False with `--quality_gate off`.
    """
    if report is None:
        return f"Not published: the run stopped before it counted anything ({elapsed(seconds)})."
    read, curated = int(report.get("rows_read", 0)), int(report.get("rows_curated", 0))
    quarantined, duplicates = int(report.get("rows_quarantined", 0)), int(report.get("duplicates_dropped", 0))
    lake = str(report.get("lake", ""))
    lake = lake[len("file://"):] if lake.startswith("file://") else lake
    skipped = int(report.get("inputs_skipped", 0) or 0)
    if read == 0 and skipped and not report.get("quality"):  # --incremental on, and every file read before
        return "\n".join([f"Nothing new: earlier runs read every input file ({skipped:,}, the lake's ledger says); "
                          f"run {report.get('run_id')} read and published nothing ({elapsed(seconds)}); "
                          f"the lake {lake} is unchanged.",
                          *(["Full report: " + ", ".join(report_places)] if report_places else [])])
    head = (f"Published run {report.get('run_id')} to {lake} in {elapsed(seconds)}." if published
            else f"Not published: run {report.get('run_id')} stopped at the quality gate after {elapsed(seconds)}; "
                 f"the lake {lake} is unchanged.")
    if not published and read == 0:  # stopped before reading: the input check (a file that is not raw input)
        return "\n".join([head, gate_sentence(report.get("quality"), gate_enabled),
                          *(["Full report: " + ", ".join(report_places)] if report_places else [])])
    reasons = _by_name(report.get("quarantined_by_reason") or {})
    lines = [head,
             f"Read {plural(read, 'row')}: {curated:,} curated, {quarantined:,} quarantined"
             + (f" ({reasons})" if reasons else "") + f", {duplicates:,} duplicates dropped."
             + (f" {plural(skipped, 'input file')} left out: read by earlier runs (--incremental on)." if skipped
                else "")]
    if read != curated + quarantined + duplicates:
        lines.append(f"WARNING: {plural(read - curated - quarantined - duplicates, 'row')} unaccounted for.")
    types = _by_name(report.get("line_types") or {})
    lines.append(f"Curated revenue {pounds(report.get('revenue_curated'))} (net: sales and service lines less "
                 f"cancellations and adjustments)" + (f"; lines by type: {types}." if types else "."))
    partitions = list(report.get("partitions_written") or [])
    quarantine_partitions = list(report.get("quarantine_partitions_written") or [])
    if published:
        span = partition_span(partitions)
        lines.append(f"Wrote {plural(len(partitions), 'curated partition')}" + (f" ({span})" if span else "")
                     + f" and {plural(len(quarantine_partitions), 'quarantine partition')}.")
        snapshots = report.get("snapshots") or {}
        if snapshots:
            lines.append("Readers now see snapshot " + ", ".join(f"{snapshots[name]} of {name}" for name in
                                                                sorted(snapshots)) + " (`ecomflow history`).")
    elif report.get("audit_branch") and report.get("quality"):
        lines.append(f"The run's rows wait on the audit branch {report['audit_branch']} for inspection "
                     "(`ecomflow branches` lists and drops them).")
    lines.append(gate_sentence(report.get("quality"), gate_enabled))
    if report_places:
        lines.append("Full report: " + ", ".join(report_places))  # the JSON files, then the run's page
    return "\n".join(lines)


def stream_summary(totals: Mapping[str, int], seconds: float) -> str:
    """The end of the local `ecomflow stream` in words."""
    batches, lines = int(totals.get("batches", 0)), int(totals.get("lines", 0))
    return (f"Stream job ended after {plural(batches, 'micro-batch', 'micro-batches')} in {elapsed(seconds)}: "
            f"{plural(lines, 'line')} read, {int(totals.get('curated', 0)):,} curated, "
            f"{int(totals.get('quarantined', 0)):,} quarantined.")
