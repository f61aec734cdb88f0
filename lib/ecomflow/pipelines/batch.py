"""The batch pipeline: raw CSV -> classified lines -> audit branch -> quality gate -> published lake.

The lake's tables are Apache Iceberg (`stores.iceberg`): a run merges its new rows into an audit
branch of its own, the gate reads that branch, and publishing moves `main` to it, one atomic commit
per table. Readers of `main` never see a run half-published, and a streaming job committing to the
same tables meanwhile loses nothing (docs/decisions.md).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from ecomflow.config import BatchConfig
from ecomflow.pipelines.staged import AfterPublish, QualityGate, StagedRun
from ecomflow.runtime import Runtime
from ecomflow.spark.readers import list_input_files, read_raw_lines
from ecomflow.spark.report import RunReport, fill_report, run_metrics
from ecomflow.spark.schemas import CURATED_SCHEMA, QUARANTINE_SCHEMA
from ecomflow.spark.transforms import (
    classify_lines,
    drop_duplicate_lines,
    duplicate_group,
    parse_raw_lines,
    to_curated,
    to_quarantine,
    with_lineage,
)
from ecomflow.stores import iceberg, input_ledger
from ecomflow.stores.files import HadoopFs

log = logging.getLogger(__name__)


def new_run_id() -> str:
    """A sortable, unique run id: `20111209T120000Z-1a2b3c4d`."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def load_lines(spark: SparkSession, config: BatchConfig, ingested_at: datetime) -> DataFrame:
    """Extract and transform: the run's deduplicated, classified lines.

    One shuffle: the raw lines are hash-partitioned by `duplicate_group`, which spreads a gzip
    file (one partition) over every core and puts all copies of a line in the same partition, so
    parsing, classifying and deduplicating run together where the lines are.
    """
    raw = read_raw_lines(spark, list(config.input_files) or config.input_uri, config.encoding)
    # Two tasks per core: even work per core without a long last task.
    tasks = 2 * spark.sparkContext.defaultParallelism
    return (
        raw.withColumn("_group", duplicate_group(F.col("raw_line")))
        .repartition(tasks, "_group")
        .transform(parse_raw_lines)
        .transform(classify_lines, config.rules)
        .transform(with_lineage, F.col("source"), ingested_at)
        .transform(drop_duplicate_lines, within="_group")
    )


def run_summary(config: BatchConfig, run_id: str) -> dict[str, str]:
    """The snapshot summary of a run's commits: which job and run made them (`ecomflow history`)."""
    return {iceberg.SUMMARY_RUN: run_id, iceberg.SUMMARY_JOB: config.job_name}


def stage_run(spark: SparkSession, config: BatchConfig, run_id: str) -> StagedRun:
    """Stage both lake tables of a run on its audit branch, and count what it read, kept, quarantined and dropped.

    One pass over the input writes the run's curated rows under `_runs/<run_id>/` and observes the
    report's counts on the way; the MERGE into the branch reads those files (a retried commit reads
    them again, not the input). Only when that pass saw bad lines does a second one stage the
    quarantine.
    """
    run_uri = f"{config.runs_uri}/{run_id}"
    report = RunReport(run_id=run_id, input=config.input_uri, lake=config.lake_uri)
    sales, quarantine_table = iceberg.open_tables(spark, config.lake_uri, config.lake_database)
    branch = iceberg.audit_branch(run_id)
    summary = run_summary(config, run_id)
    lines = load_lines(spark, config, datetime.now(UTC))
    counts = Observation("run_report")
    to_curated(lines.observe(counts, *run_metrics())).write.mode("overwrite").parquet(f"{run_uri}/new/curated")
    fill_report(report, counts.get)
    curated = iceberg.stage(spark, sales, spark.read.schema(CURATED_SCHEMA).parquet(f"{run_uri}/new/curated"),
                            branch, summary)
    quarantine = iceberg.StagedTable(quarantine_table, branch, ())
    if report.rows_quarantined:
        to_quarantine(lines).write.mode("overwrite").parquet(f"{run_uri}/new/quarantine")
        quarantine = iceberg.stage(spark, quarantine_table,
                                   spark.read.schema(QUARANTINE_SCHEMA).parquet(f"{run_uri}/new/quarantine"), branch,
                                   summary)
    report.partitions_written = list(curated.partitions)
    report.quarantine_partitions_written = list(quarantine.partitions)
    report.audit_branch = branch
    return StagedRun(config, report, curated, quarantine)


def publish_run(spark: SparkSession, staged: StagedRun) -> None:
    """Publish both tables' audit branches into `main`; the report names the snapshots readers now see."""
    summary = run_summary(staged.config, staged.report.run_id)
    for table in (staged.curated, staged.quarantine):
        snapshot = iceberg.publish(spark, table, summary)
        if snapshot is not None:
            staged.report.snapshots[table.table.name] = snapshot
    staged.report.published = True


def run_batch(runtime: Runtime, config: BatchConfig, gate: QualityGate | None = None,
              after_publish: tuple[AfterPublish, ...] = (), run_id: str | None = None) -> RunReport:
    """Run the batch job: gate the input, stage, gate the staged run, publish, the after-publish sinks; commit last.

    Raises:
        QualityGateError: the input or the staged data failed the gate; nothing was published.
    """
    spark = runtime.spark
    run_id = run_id or new_run_id()
    todo = None
    if config.incremental:
        todo = input_ledger.pending(spark, config.ledger_uri, list_input_files(spark, config.input_uri))
        if not todo.objects:
            log.info("run %s: nothing new in %s (%d files read by earlier runs)", run_id, config.input_uri,
                     todo.skipped)
            runtime.commit()
            return RunReport(run_id=run_id, input=config.input_uri, lake=config.lake_uri, inputs_skipped=todo.skipped)
        config = replace(config, input_files=tuple(todo.uris))
    if gate is not None:
        gate.check_input(spark, config, run_id)  # a file that is not raw input stops the run before it is read
    staged = stage_run(spark, config, run_id)
    staged.report.inputs_skipped = todo.skipped if todo is not None else 0
    log.info("run %s staged: %s", run_id, staged.report.to_json())
    if gate is not None:
        gate(spark, staged)  # on failure `main` is untouched; the audit branch stays for inspection
    publish_run(spark, staged)
    for sink in after_publish:
        sink(spark, staged)
    if todo is not None:  # with the commit: only a run whose every sink succeeded has read its files
        input_ledger.record(spark, config.ledger_uri, todo.objects, run_id)
    runtime.commit()
    HadoopFs(spark).delete(f"{config.runs_uri}/{run_id}")
    return staged.report
