"""The streaming job's sinks: what one micro-batch (`pipelines.stream_batch.StreamBatch`) is written to.

Each sink is a callable taking the batch, idempotent, so a batch replayed after a crash leaves
every store as if it had run once: `save_lake` (curated + quarantine: one Iceberg MERGE each),
`DynamoDbSink` (Invoice lines, Customer summaries, idempotent puts), `RedshiftSink` (MERGE by
record_id through any `RedshiftTarget`), `save_dead_letters` (what a store refused, into the
quarantine). `Concurrently` runs lanes of sinks side by side. Which sinks a job runs is the
wiring's choice (`ecomflow.app.stream_job.default_sinks`, or the caller's).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial, reduce
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomflow import contract
from ecomflow.aws import ClientSettings
from ecomflow.config import StreamConfig
from ecomflow.pipelines.stream_batch import StreamBatch
from ecomflow.spark.schemas import CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA
from ecomflow.stores import iceberg

if TYPE_CHECKING:
    from ecomflow.stores.redshift import RedshiftTarget

log = logging.getLogger(__name__)

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
        errors = [error for error in (future.exception() for future in futures) if error is not None]
        if errors:
            raise errors[0]


# Snapshot-summary keys of a micro-batch's lake commits (`ecomflow history` shows them): which job,
# checkpoint and batch, and a token of the one MERGE, by which the sink finds its own commit afterwards.
SUMMARY_JOB, SUMMARY_CHECKPOINT = iceberg.SUMMARY_JOB, "ecomflow.checkpoint"
SUMMARY_BATCH, SUMMARY_COMMIT = "ecomflow.batch-id", "ecomflow.commit-id"


def batch_summary(batch: StreamBatch) -> dict[str, str]:
    """The snapshot summary of this micro-batch's commits: job, checkpoint and batch id.

    Batch ids start again at 0 with a new checkpoint: the checkpoint's location keeps a new run's
    batch 0 apart from an old one's when a replay looks up its batch's commits (`RedshiftSink`).
    """
    return {SUMMARY_JOB: batch.config.job_name, SUMMARY_CHECKPOINT: batch.config.checkpoint_uri,
            SUMMARY_BATCH: str(batch.batch_id)}


def merge_into_lake(batch: StreamBatch, table: iceberg.LakeTable, rows: DataFrame,
                    touched: Sequence[str]) -> iceberg.Commit | None:
    """MERGE `rows` (new keys only) into `table` in one commit; returns that commit (None: nothing to write).

    The commit's `added_records` is what this MERGE really added: a replayed batch finds its rows
    already there and adds 0, so nothing is counted twice. (Whether an empty MERGE commits at all
    is Iceberg's business; no commit counts as 0 too.)
    """
    if not touched:
        return None
    token = uuid.uuid4().hex
    spark = batch.lines.sparkSession
    iceberg.merge_new_rows(spark, table, rows, touched=[iceberg.partition_values(table, p) for p in touched],
                           summary={**batch_summary(batch), SUMMARY_COMMIT: token})
    found = iceberg.commits_with(spark, table, {SUMMARY_COMMIT: token})
    return found[-1] if found else None


def save_lake(batch: StreamBatch) -> None:
    """MERGE the batch's new curated and quarantined rows into the lake's Iceberg tables: one commit each.

    A table the batch has no rows for is not touched at all (no Spark job, no commit). A Redshift
    target that loads the commit's files finds it by the batch's summary (`RedshiftSink`).
    """
    sales, quarantine = iceberg.open_tables(batch.lines.sparkSession, batch.config.lake_uri,
                                            batch.config.lake_database)
    curated = merge_into_lake(batch, sales, batch.curated, batch.curated_touched)
    quarantined = merge_into_lake(batch, quarantine, batch.quarantine, batch.quarantine_touched)
    batch.written.update(lake_curated=curated.added_records if curated else 0,
                         lake_quarantined=quarantined.added_records if quarantined else 0)


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
    if frames:  # all reasons in one commit
        _, quarantine = iceberg.open_tables(batch.lines.sparkSession, batch.config.lake_uri,
                                            batch.config.lake_database)
        rows = reduce(DataFrame.unionByName, frames).select(*QUARANTINE_SCHEMA.fieldNames())
        touched = [iceberg.partition_path({"reason": reason}, QUARANTINE_PARTITIONS) for reason in sorted(by_reason)]
        commit = merge_into_lake(batch, quarantine, rows, touched)
        written = commit.added_records if commit else 0
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
    """MERGEs each batch's curated lines into Redshift `sales` by record_id (ecomflow.stores.redshift).

    What the target reads is its own business (`RedshiftTarget.upsert_batch`): PostgreSQL stages the
    batch's rows, the Data API COPYs the files the batch's lake commits added. A target that
    `reads_lake` must run after the lake sink (`app.stream_job.default_sinks` places it so); it gets
    every commit of this batch id (`batch_summary`), a replay's earlier attempt included, so rows an
    attempt committed to the lake before it crashed still reach Redshift.
    """

    def __init__(self, target: RedshiftTarget) -> None:
        self.target = target
        self._migrated = False

    def __call__(self, batch: StreamBatch) -> None:
        if not self._migrated:
            self.target.migrate()
            self._migrated = True
        if not batch.curated_touched:
            batch.written.update(redshift_merged=0)
            return
        spark = batch.lines.sparkSession
        sales, _ = iceberg.open_tables(spark, batch.config.lake_uri, batch.config.lake_database)
        commits = iceberg.commits_with(spark, sales, batch_summary(batch)) if self.target.reads_lake else []
        result = self.target.upsert_batch(spark, sales, batch.curated, commits)
        batch.written.update(redshift_merged=result.merged_rows or 0)
