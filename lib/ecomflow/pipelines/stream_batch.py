"""One micro-batch in flight: its cached lines, their counts per lake partition, what the sinks did.

Apart from the pipeline (`pipelines.stream`) so that the sinks (`pipelines.stream_sinks`) can take
a `StreamBatch` without importing the pipeline that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomflow.config import StreamConfig
from ecomflow.spark.schemas import CURATED_PARTITIONS, QUARANTINE_PARTITIONS
from ecomflow.spark.transforms import to_curated, to_quarantine
from ecomflow.stores.dynamodb import Rejected
from ecomflow.stores.iceberg import partition_path


@dataclass(frozen=True)
class BatchPartitions:
    """What a micro-batch's lines hold, per lake partition: counted in one Spark job."""

    read: int
    curated: int
    quarantined: int
    curated_touched: tuple[str, ...]
    quarantine_touched: tuple[str, ...]


def count_partitions(lines: DataFrame) -> BatchPartitions:
    """Lines read, curated and quarantined, and the partitions of each table they fall in."""
    valid = F.col("reason").isNull()
    groups = lines.groupBy(
        F.when(valid, F.col("year")).alias("year"), F.when(valid, F.col("month")).alias("month"), "reason",
    ).agg(F.count(F.lit(1)).alias("kept"), F.sum("line_count").alias("read")).collect()
    curated = [g for g in groups if g["reason"] is None]
    quarantined = [g for g in groups if g["reason"] is not None]
    return BatchPartitions(
        read=sum(int(g["read"]) for g in groups),
        curated=sum(g["kept"] for g in curated),
        quarantined=sum(g["kept"] for g in quarantined),
        curated_touched=tuple(sorted(partition_path(g.asDict(), CURATED_PARTITIONS) for g in curated)),
        quarantine_touched=tuple(sorted(partition_path(g.asDict(), QUARANTINE_PARTITIONS) for g in quarantined)),
    )


@dataclass
class StreamBatch:
    """One micro-batch in flight: its (cached) lines, their counts, and what the sinks did so far."""

    batch_id: int
    config: StreamConfig
    lines: DataFrame
    counts: BatchPartitions
    written: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per sink, for the batch log
    rejected: list[Rejected] = field(default_factory=list)  # what a store refused, line by line

    @property
    def curated_touched(self) -> tuple[str, ...]:
        return self.counts.curated_touched

    @property
    def quarantine_touched(self) -> tuple[str, ...]:
        return self.counts.quarantine_touched

    @property
    def curated(self) -> DataFrame:
        return to_curated(self.lines)

    @property
    def quarantine(self) -> DataFrame:
        return to_quarantine(self.lines)
