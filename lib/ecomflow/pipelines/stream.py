"""The streaming pipeline: one micro-batch of Kinesis records -> lake, DynamoDB, Redshift.

`process_batch(df, batch_id, config, sinks)` is what Glue's `forEachBatch` calls on AWS (bound
with `functools.partial`: `ecomflow.app.stream_job`) and what the local shard poller
(`ecomflow.local.stream_runner`) calls; both pass the sinks (`app.stream_job.default_sinks`; the
sinks themselves are `pipelines.stream_sinks`). It reuses the batch job's transforms, so a line
gets the same `record_id` and values either way:

    raw fields (strings) -> classify_lines -> with_lineage -> drop_duplicate_lines
        -> cached, counted per partition it touches (one Spark job)
        -> at the same time: DynamoDbSink (Invoice lines, Customer summaries, idempotent puts)
                             save_lake (curated + quarantine, idempotent append)
                             RedshiftSink (MERGE by record_id; after the lake on the Data API path)

Every sink is idempotent, so a batch replayed after a crash (the checkpoint is committed only
after `process_batch` returns) leaves every store as if it had run once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.config import StreamConfig
from ecomflow.contract import RAW_FIELDS, decode_stream_record
from ecomflow.pipelines.stream_batch import StreamBatch, count_partitions
from ecomflow.pipelines.stream_sinks import Sink, run_sinks, save_dead_letters
from ecomflow.spark.transforms import classify_lines, drop_duplicate_lines, with_lineage

log = logging.getLogger(__name__)

# What a micro-batch holds: each Kinesis record's bytes as they arrived (`data`, the Kinesis
# connector's column; the local poller's too) and, optionally, their order (`line_no`).
KINESIS_RECORD_SCHEMA = T.StructType([T.StructField("data", T.BinaryType(), True),
                                      T.StructField("line_no", T.LongType(), True)])
_DECODED_SCHEMA = T.StructType([T.StructField(name, T.StringType(), True) for name in (*RAW_FIELDS, "raw_line")])


# --- transform ---------------------------------------------------------------------------------

_decode_record = F.udf(decode_stream_record, _DECODED_SCHEMA)


def to_raw_lines(records: DataFrame) -> DataFrame:
    """Kinesis records (their bytes, `data`) as the raw lines `classify_lines` takes.

    Every record keeps its own text as `raw_line` (what the quarantine holds), and its raw fields
    are read from that text exactly as the ingest API reads a record (`contract.decode_stream_record`:
    strict JSON; Spark's `from_json` would accept trailing garbage and turn `true` into a field).
    A record that is not a JSON object of raw fields has no fields and is quarantined with its
    own text, so two different bad records never collapse into one. `line_no` orders duplicates:
    the reader's where it supplies one (the local poller does), else the arrival order Spark sees.
    """
    decoded = _decode_record(F.col("data")).alias("_record")
    line_no = F.col("line_no") if "line_no" in records.columns else F.monotonically_increasing_id()
    return (
        records.select(decoded, line_no.cast(T.LongType()).alias("line_no"))
        .select(*[F.col(f"_record.{name}").alias(name) for name in RAW_FIELDS],
                F.col("_record.raw_line").alias("raw_line"), "line_no")
    )


def stream_lines(records: DataFrame, config: StreamConfig, ingested_at: datetime) -> DataFrame:
    """One micro-batch's deduplicated, classified lines, exactly as the batch job classifies them."""
    return (
        records.transform(to_raw_lines)
        .transform(classify_lines, config.rules)
        .transform(with_lineage, config.source, ingested_at)
        .transform(drop_duplicate_lines)
    )


# --- the batch function ------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchResult:
    """What one micro-batch did (counts of lines, and what each sink wrote)."""

    batch_id: int
    lines: int
    curated: int
    quarantined: int
    duplicates_dropped: int
    written: dict[str, int]


def process_batch(records: DataFrame, batch_id: int, config: StreamConfig,
                  sinks: Sequence[Sink]) -> BatchResult:
    """Clean one micro-batch and write it to every sink; raises if any sink fails (nothing is committed).

    Args:
        records: the micro-batch, one row per Kinesis record with the raw field columns
            (optionally `raw_line` and `line_no`).
        batch_id: the micro-batch id (Glue's, or the local poller's).
        config: the streaming job's config.
        sinks: the sinks to run in order (the job's: `ecomflow.app.stream_job.default_sinks(config)`).
    """
    lines = stream_lines(records, config, datetime.now(UTC)).persist()
    try:
        # Counted before the sinks start: the count fills the cache that every sink then reads.
        # (Starting the sinks at once, each computing the lines, measured slower: 3 lanes of
        # cleaning competing for 2 cores.)
        started = time.monotonic()
        counts = count_partitions(lines)
        batch = StreamBatch(batch_id=batch_id, config=config, lines=lines, counts=counts,
                            seconds={"clean": round(time.monotonic() - started, 2)})
        run_sinks(sinks, batch)
        if batch.rejected:
            save_dead_letters(batch)
    finally:
        lines.unpersist()
    result = BatchResult(batch_id, counts.read, counts.curated, counts.quarantined,
                         counts.read - counts.curated - counts.quarantined, dict(batch.written))
    log.info("batch %d: %d lines, %d curated, %d quarantined, %d duplicates; written %s; seconds %s", batch_id,
             result.lines, result.curated, result.quarantined, result.duplicates_dropped, result.written,
             batch.seconds)
    return result


def batch_function(config: StreamConfig, sinks: Sequence[Sink]) -> Callable[[DataFrame, int], BatchResult]:
    """`process_batch` bound to a config and sinks: the `batch_function` Glue's `forEachBatch` calls."""
    return partial(process_batch, config=config, sinks=tuple(sinks))
