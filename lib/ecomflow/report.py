"""The run report: what a run read, kept, quarantined and dropped, as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from ecomflow.schemas import LINE_TYPES, REASONS


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
    published: bool = False
    quality: dict[str, object] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_curated + self.rows_quarantined + self.duplicates_dropped

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    def write(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")


def run_metrics() -> list[Column]:
    """The report's counts as aggregates over a run's deduplicated lines, for `DataFrame.observe`.

    Observed on the lines as the staged write consumes them, so the counts cost no Spark job.
    """
    is_valid = F.col("reason").isNull()
    return [
        F.coalesce(F.sum("line_count"), F.lit(0)).alias("rows_read"),
        F.count(F.when(is_valid, 1)).alias("rows_curated"),
        F.count(F.when(~is_valid, 1)).alias("rows_quarantined"),
        F.coalesce(F.sum(F.col("line_count") - 1), F.lit(0)).alias("duplicates_dropped"),
        F.sum(F.when(is_valid, F.col("revenue"))).alias("revenue_curated"),
        *[F.count(F.when(F.col("line_type") == name, 1)).alias(f"line_type.{name}") for name in LINE_TYPES],
        *[F.count(F.when(F.col("reason") == name, 1)).alias(f"reason.{name}") for name in REASONS],
    ]


def fill_report(report: RunReport, metrics: dict[str, object]) -> RunReport:
    """Set the counts of `report` from the observed `run_metrics`."""
    report.rows_read = int(metrics["rows_read"])
    report.rows_curated = int(metrics["rows_curated"])
    report.rows_quarantined = int(metrics["rows_quarantined"])
    report.duplicates_dropped = int(metrics["duplicates_dropped"])
    report.revenue_curated = f"{Decimal(metrics['revenue_curated'] or 0):.3f}"
    report.line_types = {name: int(metrics[f"line_type.{name}"]) for name in LINE_TYPES}
    report.quarantined_by_reason = {name: int(metrics[f"reason.{name}"]) for name in sorted(REASONS)
                                    if metrics[f"reason.{name}"]}
    return report
