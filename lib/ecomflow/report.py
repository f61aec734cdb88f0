"""The run report: what a run read, kept, quarantined and dropped, as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomflow.schemas import LINE_TYPES


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


def summarise_lines(lines: DataFrame, report: RunReport) -> RunReport:
    """Fill the counts of `report` from a run's deduplicated lines (two small Spark jobs)."""
    is_valid = F.col("reason").isNull()
    totals = lines.agg(
        F.sum("line_count").alias("rows_read"),
        F.count(F.when(is_valid, 1)).alias("rows_curated"),
        F.count(F.when(~is_valid, 1)).alias("rows_quarantined"),
        F.sum(F.col("line_count") - 1).alias("duplicates_dropped"),
        F.sum(F.when(is_valid, F.col("revenue"))).alias("revenue_curated"),
    ).first()
    report.rows_read = int(totals["rows_read"] or 0)
    report.rows_curated = int(totals["rows_curated"])
    report.rows_quarantined = int(totals["rows_quarantined"])
    report.duplicates_dropped = int(totals["duplicates_dropped"] or 0)
    revenue = totals["revenue_curated"] or Decimal("0")
    report.revenue_curated = f"{Decimal(revenue):.3f}"
    groups = (
        lines.groupBy(F.when(is_valid, F.lit("line_type")).otherwise(F.lit("reason")).alias("kind"),
                      F.coalesce("line_type", "reason").alias("name"))
        .count()
        .collect()
    )
    report.line_types = {name: 0 for name in LINE_TYPES}
    report.quarantined_by_reason = {}
    for row in groups:
        target = report.line_types if row["kind"] == "line_type" else report.quarantined_by_reason
        target[row["name"]] = int(row["count"])
    report.quarantined_by_reason = dict(sorted(report.quarantined_by_reason.items()))
    return report
