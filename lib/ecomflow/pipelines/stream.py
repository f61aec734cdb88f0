"""The streaming pipeline: one micro-batch of Kinesis records -> lake, DynamoDB, Redshift.

`process_batch(df, batch_id, config, sinks)` is what Glue's `forEachBatch` calls on AWS (bound
with `functools.partial`) and what the local shard poller (`ecomflow.local.stream_runner`) calls. It
reuses the batch job's transforms, so a line gets the same `record_id` and values either way:

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow import contract
from ecomflow.aws import ClientSettings
from ecomflow.config import StreamConfig
from ecomflow.contract import decode_stream_record
from ecomflow.stores.dynamodb import Rejected
from ecomflow.spark.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA, RAW_FIELDS
from ecomflow.stores import lake_append
from ecomflow.stores.lake import partition_path
from ecomflow.spark.transforms import classify_lines, drop_duplicate_lines, to_curated, to_quarantine, with_lineage

log = logging.getLogger(__name__)

# What a micro-batch holds: each Kinesis record's bytes as they arrived (`data`, the Kinesis
# connector's column; the local poller's too) and, optionally, their order (`line_no`).
KINESIS_RECORD_SCHEMA = T.StructType([T.StructField("data", T.BinaryType(), True),
                                      T.StructField("line_no", T.LongType(), True)])
# The Kinesis source on Glue: the AWS Labs Spark Structured Streaming connector, added to the job
# with `--extra-jars` (cloudformation/glue.yaml). Glue's own Kinesis source parses records itself
# (`classification`), so a record that is not JSON would reach us without its text.
KINESIS_FORMAT = "aws-kinesis"
_DECODED_SCHEMA = T.StructType([T.StructField(name, T.StringType(), True) for name in (*RAW_FIELDS, "raw_line")])


# --- Glue source and trigger options -----------------------------------------------------------

def kinesis_source_options(config: StreamConfig, region: str | None, endpoint_url: str) -> dict[str, str]:
    """Options of `spark.readStream.format("aws-kinesis")` for the job's stream.

    Args:
        config: the streaming job's config (stream name, or the ARN it is read from, and the start).
        region: the job's region (its environment or the stream ARN's); None leaves it to the
            connector, which infers it from the endpoint.
        endpoint_url: the Kinesis endpoint as the SDK resolves it for that region
            (`aws.client("kinesis").meta.endpoint_url`), never spelled by hand.
    """
    options = {
        "kinesis.streamName": config.stream_name,
        "kinesis.endpointUrl": endpoint_url,
        "kinesis.startingPosition": config.starting_position,
        "kinesis.maxFetchRecordsPerShard": str(config.max_records_per_shard),
        "kinesis.consumerType": "GetRecords",
    }
    if region:
        options["kinesis.region"] = region
    return options


def for_each_batch_options(config: StreamConfig) -> dict[str, str]:
    """`options` of `glueContext.forEachBatch`: the trigger window and the checkpoint location."""
    return {"windowSize": config.window_size, "checkpointLocation": config.checkpoint_uri}


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


# --- sinks -------------------------------------------------------------------------------------

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

    @property
    def staging_uri(self) -> str:
        return f"{self.config.runs_uri}/stream/{self.config.job_name}-{self.batch_id}"


Sink = Callable[[StreamBatch], None]


def run_sinks(sinks: Sequence[Sink], batch: StreamBatch) -> None:
    """Run `sinks` one after the other on `batch`, timing each (`batch.seconds`); the first error stops them."""
    for sink in sinks:
        started = time.monotonic()
        sink(batch)
        batch.seconds[getattr(sink, "__name__", type(sink).__name__)] = round(time.monotonic() - started, 2)


class Concurrently:
    """A sink made of independent lanes that run at the same time, each running its sinks in order.

    The stores of a micro-batch do not depend on each other (only Redshift's Data API path COPYs the
    lake's partitions, so it runs after the lake in the lake's lane), and most of a sink's time is spent
    waiting on its store: side by side, a batch takes as long as its slowest lane, not the sum.
    Spark runs jobs submitted from several threads concurrently.

    Every lane runs to its end even when another fails; then the first failure (in lane order) is
    raised, so the batch is not committed and is replayed whole, which the idempotent sinks allow.
    """

    def __init__(self, *lanes: Sequence[Sink]) -> None:
        self.lanes = tuple(tuple(lane) for lane in lanes if lane)

    def __call__(self, batch: StreamBatch) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(self.lanes)), thread_name_prefix="sink-lane") as pool:
            futures = [pool.submit(run_sinks, lane, batch) for lane in self.lanes]
        errors = [future.exception() for future in futures if future.exception() is not None]
        if errors:
            raise errors[0]


def save_lake(batch: StreamBatch) -> None:
    """Append the batch's new curated and quarantined rows to the lake (idempotent).

    A table the batch has no rows for is not touched at all (no Spark job).
    """
    spark = batch.lines.sparkSession
    curated = lake_append.append_new_rows(spark, batch.curated, batch.config.curated_uri,
                                          f"{batch.staging_uri}/curated", "record_id", CURATED_PARTITIONS,
                                          CURATED_SCHEMA, touched=batch.curated_touched)
    quarantine = lake_append.append_new_rows(spark, batch.quarantine, batch.config.quarantine_uri,
                                             f"{batch.staging_uri}/quarantine", "quarantine_id",
                                             QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA,
                                             touched=batch.quarantine_touched)
    batch.written.update(lake_curated=curated.rows, lake_quarantined=quarantine.rows)


def save_dead_letters(batch: StreamBatch) -> None:
    """Keep the lines a store refused in the quarantine (reason `rejected_by_<store>`), and raise the alarm.

    A store's refusal of one line never fails the micro-batch (the rest is written and the
    checkpoint moves); the refused line is kept whole, as the JSON of its curated values, so it can
    be mended and replayed. The lake and the other stores keep the line: the dead-letter row names
    the store that lacks it. An ERROR log line and the SNS topic (`--topic_arn`) say so.
    """
    from ecomflow.stores.notify import publish_event

    by_reason: dict[str, set[str]] = {}
    for rejected in batch.rejected:
        if rejected.record_id:
            by_reason.setdefault(dead_letter_reason(rejected.table, batch.config), set()).add(rejected.record_id)
    business = [c for c in CURATED_SCHEMA.fieldNames() if c not in ("source", "ingested_at", "year", "month")]
    frames = [
        batch.curated.where(F.col("record_id").isin(sorted(ids))).select(
            F.sha2(F.concat_ws(":", F.lit(reason), F.col("record_id")), 256).alias("quarantine_id"),
            F.to_json(F.struct(*business)).alias("raw_line"), F.lit(reason).alias("reason"), "source", "ingested_at")
        for reason, ids in sorted(by_reason.items())
    ]
    written = 0
    for frame, reason in zip(frames, sorted(by_reason)):
        written += lake_append.append_new_rows(
            batch.lines.sparkSession, frame, batch.config.quarantine_uri, f"{batch.staging_uri}/dead-letters",
            "quarantine_id", QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA,
            touched=(partition_path({"reason": reason}, QUARANTINE_PARTITIONS),)).rows
    batch.written.update(dead_lettered=len(batch.rejected))
    examples = [f"{r.table} {r.key}: {r.message}" for r in batch.rejected[:5]]
    log.error("batch %d: %d items refused by the stores, kept in the quarantine (%d new rows): %s",
              batch.batch_id, len(batch.rejected), written, "; ".join(examples))
    publish_event(batch.config.topic_arn, f"{batch.config.job_name}: lines refused by a store", {
        "event": "lines_dead_lettered", "job_name": batch.config.job_name, "run_id": f"batch-{batch.batch_id}",
        "refused": len(batch.rejected), "reasons": sorted(by_reason), "examples": examples})


def dead_letter_reason(table: str, config: StreamConfig) -> str:
    """The quarantine reason of a line a store refused: `rejected_by_dynamodb`, `rejected_by_redshift`."""
    dynamodb_tables = (config.invoice_table, config.customer_table)
    return contract.REJECTED_BY_DYNAMODB if table in dynamodb_tables else contract.REJECTED_BY_REDSHIFT


def dynamodb_rows(curated: DataFrame) -> DataFrame:
    """The curated columns DynamoDB items are built from; the timestamp as wall-clock text.

    Formatting in Spark keeps the session time zone (UTC) in charge: Python's conversion of a
    collected timestamp would use the driver's local zone.
    """
    return curated.select(
        "record_id", "invoice_no", "stock_code", "description", "quantity", "unit_price", "revenue",
        F.date_format("invoice_ts", "yyyy-MM-dd'T'HH:mm:ss").alias("invoice_ts"),
        "customer_id", "country", "line_type",
    )


class DynamoDbSink:
    """Writes each batch's curated lines to `Invoice` and counts them into the touched `Customer` summaries.

    The executors write, not the driver: the lines are partitioned by invoice number (so one task
    owns each invoice's summaries) and every task writes its partition with a client of its own
    (`dynamodb.save_partition`: 25-item chunks, `UnprocessedItems` retried, idempotent keys), so
    throughput grows with the workers and no batch is collected onto the driver. `workers`
    BatchWriteItem calls are in flight per task.
    """

    def __init__(self, settings: ClientSettings | None = None, workers: int = 2) -> None:
        self.settings = settings
        self.workers = workers

    def __call__(self, batch: StreamBatch) -> None:
        from ecomflow.stores import dynamodb

        settings = self.settings or ClientSettings.from_environment("dynamodb")
        config = batch.config
        tasks = batch.lines.sparkSession.sparkContext.defaultParallelism
        write = partial(dynamodb.save_partition, settings, config.invoice_table, config.customer_table,
                        workers=self.workers)
        rows = dynamodb_rows(batch.curated).repartition(tasks, "invoice_no")
        stats = sum(rows.rdd.mapPartitions(write).collect(), dynamodb.WriteStats())
        batch.written.update(dynamodb_items=stats.items)
        batch.rejected.extend(stats.rejected)


class RedshiftSink:
    """MERGEs each batch's curated lines into Redshift `sales` by record_id (ecomflow.stores.redshift)."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._migrated = False

    def __call__(self, batch: StreamBatch) -> None:
        if not self._migrated:
            self.target.migrate()
            self._migrated = True
        upsert_frame = getattr(self.target, "upsert_frame", None)
        if upsert_frame is not None:  # PostgreSQL: stage just this batch's rows
            merged = upsert_frame(batch.curated)
        else:  # Redshift Data API: COPY the touched partitions (the lake sink ran first)
            merged = self.target.upsert_partitions(batch.lines.sparkSession, batch.config.curated_uri,
                                                   batch.curated_touched).merged_rows
        batch.written.update(redshift_merged=merged or 0)


def default_sinks(config: StreamConfig, dynamodb_settings: ClientSettings | None = None,
                  redshift_target: Any = None) -> tuple[Sink, ...]:
    """The streaming job's sinks: DynamoDB, the lake and Redshift (where on), side by side.

    DynamoDB does not wait for the lake's append: a line is readable through the query API as soon
    as DynamoDB has it (freshness is measured there). Redshift MERGEs the batch's own rows where the
    target can (PostgreSQL locally), in a lane of its own; the Data API path COPYs the lake's touched
    partitions, so there it follows the lake. The checkpoint moves only after every sink, and each
    sink is idempotent.
    """
    lanes: list[list[Sink]] = [[DynamoDbSink(dynamodb_settings)], [save_lake]]
    if redshift_target is None and config.redshift.enabled:
        from ecomflow.stores.redshift import redshift_target as build_target

        redshift_target = build_target(config.redshift)
    if redshift_target is not None:
        if hasattr(redshift_target, "upsert_frame"):
            lanes.append([RedshiftSink(redshift_target)])
        else:
            lanes[1].append(RedshiftSink(redshift_target))
    return (Concurrently(*lanes),)


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
                  sinks: Sequence[Sink] | None = None) -> BatchResult:
    """Clean one micro-batch and write it to every sink; raises if any sink fails (nothing is committed).

    Args:
        records: the micro-batch, one row per Kinesis record with the raw field columns
            (optionally `raw_line` and `line_no`).
        batch_id: the micro-batch id (Glue's, or the local poller's).
        config: the streaming job's config.
        sinks: the sinks to run in order; `default_sinks(config)` when None.
    """
    sinks = default_sinks(config) if sinks is None else sinks
    lines = stream_lines(records, config, datetime.now(timezone.utc)).persist()
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


def batch_function(config: StreamConfig, sinks: Sequence[Sink] | None = None) -> Callable[[DataFrame, int], BatchResult]:
    """`process_batch` bound to a config and sinks: the `batch_function` Glue's `forEachBatch` calls."""
    return partial(process_batch, config=config, sinks=default_sinks(config) if sinks is None else tuple(sinks))


def read_kinesis(spark: SparkSession, config: StreamConfig) -> DataFrame:
    """The job's stream as a streaming DataFrame of record bytes (the AWS Labs Kinesis connector)."""
    from ecomflow import aws
    region = config.region or aws.default_region()
    endpoint_url = aws.client("kinesis", region).meta.endpoint_url
    reader = spark.readStream.format(KINESIS_FORMAT)
    for key, value in kinesis_source_options(config, region, endpoint_url).items():
        reader = reader.option(key, value)
    return reader.load().select("data")


def run_glue_stream(runtime: Any, config: StreamConfig) -> None:
    """The Glue streaming job: the Kinesis records' bytes, `forEachBatch(process_batch)`.

    Runs until the job is stopped; Glue commits its checkpoint after each batch function returns.
    """
    records = read_kinesis(runtime.spark, config)
    runtime.glue_context.forEachBatch(frame=records, batch_function=batch_function(config),
                                      options=for_each_batch_options(config))
    runtime.commit()
