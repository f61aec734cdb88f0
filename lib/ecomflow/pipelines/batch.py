"""The batch pipeline: raw CSV -> classified lines -> staged lake -> quality gate -> published lake."""

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
from ecomflow.spark.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA
from ecomflow.spark.transforms import (
    classify_lines,
    drop_duplicate_lines,
    duplicate_group,
    parse_raw_lines,
    to_curated,
    to_quarantine,
    with_lineage,
)
from ecomflow.stores import input_ledger, lake

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


def stage_run(spark: SparkSession, config: BatchConfig, run_id: str) -> StagedRun:
    """Stage both lake tables of a run and count what it read, kept, quarantined and dropped.

    One pass over the input stages the curated table, and the report's counts are observed on the
    way. Only when that pass saw bad lines does a second one stage the quarantine table.
    """
    run_uri = f"{config.runs_uri}/{run_id}"
    report = RunReport(run_id=run_id, input=config.input_uri, lake=config.lake_uri)
    lines = load_lines(spark, config, datetime.now(UTC))
    counts = Observation("run_report")
    curated = lake.stage_merge(spark, to_curated(lines.observe(counts, *run_metrics())), config.curated_uri,
                               f"{run_uri}/staged/curated", "record_id", CURATED_PARTITIONS, CURATED_SCHEMA)
    fill_report(report, counts.get)
    quarantine_staged_uri = f"{run_uri}/staged/quarantine"
    if report.rows_quarantined:
        quarantine = lake.stage_merge(spark, to_quarantine(lines), config.quarantine_uri, quarantine_staged_uri,
                                      "quarantine_id", QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA)
    else:
        quarantine = lake.StagedTable(quarantine_staged_uri, config.quarantine_uri, ())
    report.partitions_written = list(curated.partitions)
    report.quarantine_partitions_written = list(quarantine.partitions)
    return StagedRun(config, report, curated, quarantine)


def publish_run(spark: SparkSession, staged: StagedRun) -> None:
    """Swap the staged partitions of both tables into the lake."""
    run_uri = f"{staged.config.runs_uri}/{staged.report.run_id}"
    lake.publish_partitions(spark, staged.curated, f"{run_uri}/replaced/curated")
    lake.publish_partitions(spark, staged.quarantine, f"{run_uri}/replaced/quarantine")
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
        gate(spark, staged)  # on failure the staged run stays under _runs/ for inspection
    publish_run(spark, staged)
    for sink in after_publish:
        sink(spark, staged)
    if todo is not None:  # with the commit: only a run whose every sink succeeded has read its files
        input_ledger.record(spark, config.ledger_uri, todo.objects, run_id)
    runtime.commit()
    lake.HadoopFs(spark).delete(f"{config.runs_uri}/{run_id}")
    return staged.report
