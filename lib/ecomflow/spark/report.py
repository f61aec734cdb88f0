"""The run report: what a run read, kept, quarantined and dropped, as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from ecomflow.contract import LINE_TYPES, REASONS
from ecomflow.spark.columns import has_control_characters, has_mojibake

EXAMPLE_CHARS = 80  # of the example text the report keeps for a suspect line


@dataclass
class RunReport:
    """Counts of one run; `rows_read == rows_curated + rows_quarantined + duplicates_dropped`."""

    run_id: str
    input: str
    lake: str
    rows_read: int = 0
    rows_curated: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    revenue_curated: str = "0.000"
    line_types: dict[str, int] = field(default_factory=dict)
    partitions_written: list[str] = field(default_factory=list)
    quarantine_partitions_written: list[str] = field(default_factory=list)
    # What the quality gate judges plausibility by (observed in the same pass as the counts).
    invoice_ts_min: str | None = None  # earliest curated invoice time (`2010-12-01 08:26:00`); None: none curated
    invoice_ts_max: str | None = None
    mojibake_lines: int = 0  # lines with signs of a wrong encoding: `Ã©`, `Â£`, U+FFFD
    mojibake_example: str | None = None
    control_char_lines: int = 0  # bad lines holding control characters (NUL, ...): signs of non-text input
    published: bool = False
    audit_branch: str | None = None  # the Iceberg branch the run staged on (kept when the gate stops it)
    snapshots: dict[str, int] = field(default_factory=dict)  # table -> the `main` snapshot the run published
    inputs_skipped: int = 0  # input files an incremental run left out: the ledger holds them already
    quality: dict[str, object] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_curated + self.rows_quarantined + self.duplicates_dropped

    @property
    def distinct_lines(self) -> int:
        """The lines left after dropping duplicates: curated + quarantined."""
        return self.rows_curated + self.rows_quarantined

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    def write(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")


def run_metrics() -> list[Column]:
    """The report's counts as aggregates over a run's deduplicated lines, for `DataFrame.observe`.

    Observed on the lines as the staged write consumes them, so the counts cost no Spark job. Signs
    of a wrong encoding are looked for in a bad line's raw text and in a valid line's free-text
    fields (its raw text is not kept), control characters only in bad lines' raw text: non-text
    input makes lines that are not CSV, while a valid line's fields have passed their type checks.
    """
    is_valid = F.col("reason").isNull()
    garbled = has_mojibake(F.col("raw_line")) | has_mojibake(F.col("description")) | has_mojibake(F.col("country"))
    text = F.coalesce(F.col("raw_line"), F.concat_ws(",", F.col("description"), F.col("country")))
    return [
        F.coalesce(F.sum("line_count"), F.lit(0)).alias("rows_read"),
        F.count(F.when(is_valid, 1)).alias("rows_curated"),
        F.count(F.when(~is_valid, 1)).alias("rows_quarantined"),
        F.coalesce(F.sum(F.col("line_count") - 1), F.lit(0)).alias("duplicates_dropped"),
        F.sum(F.when(is_valid, F.col("revenue"))).alias("revenue_curated"),
        *[F.count(F.when(F.col("line_type") == name, 1)).alias(f"line_type.{name}") for name in LINE_TYPES],
        *[F.count(F.when(F.col("reason") == name, 1)).alias(f"reason.{name}") for name in REASONS],
        # As text: an observed timestamp reaches Python as a Java object.
        F.min(F.when(is_valid, F.col("invoice_ts"))).cast("string").alias("invoice_ts_min"),
        F.max(F.when(is_valid, F.col("invoice_ts"))).cast("string").alias("invoice_ts_max"),
        F.count(F.when(garbled, 1)).alias("mojibake_lines"),
        F.min(F.when(garbled, F.substring(text, 1, EXAMPLE_CHARS))).alias("mojibake_example"),
        F.count(F.when(has_control_characters(F.col("raw_line")), 1)).alias("control_char_lines"),
    ]


def fill_report(report: RunReport, metrics: Mapping[str, Any]) -> RunReport:
    """Set the counts of `report` from the observed `run_metrics`."""
    report.rows_read = int(metrics["rows_read"])
    report.rows_curated = int(metrics["rows_curated"])
    report.rows_quarantined = int(metrics["rows_quarantined"])
    report.duplicates_dropped = int(metrics["duplicates_dropped"])
    report.revenue_curated = f"{Decimal(metrics['revenue_curated'] or 0):.3f}"
    report.line_types = {name: int(metrics[f"line_type.{name}"]) for name in LINE_TYPES}
    report.quarantined_by_reason = {name: int(metrics[f"reason.{name}"]) for name in sorted(REASONS)
                                    if metrics[f"reason.{name}"]}
    report.invoice_ts_min = metrics.get("invoice_ts_min")
    report.invoice_ts_max = metrics.get("invoice_ts_max")
    report.mojibake_lines = int(metrics.get("mojibake_lines") or 0)
    report.mojibake_example = metrics.get("mojibake_example")
    report.control_char_lines = int(metrics.get("control_char_lines") or 0)
    return report
