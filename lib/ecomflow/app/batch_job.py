"""The batch job as Glue runs it: the gate and the after-publish stores chosen from the config, around the pipeline.

`pipelines.batch.run_batch` is the pipeline with its gate and hooks passed in; this module decides
which ones a configured job gets (great-expectations unless `--quality_gate off`, the Glue Catalog,
Redshift, the SNS messages) and what happens on failure. The hooks adapt a `StagedRun` to each
store's own calls, so the stores know nothing of the pipeline.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import SparkSession

from ecomflow import aws, contract
from ecomflow.app.archive_replay import replay_config
from ecomflow.config import BatchConfig
from ecomflow.errors import QualityGateError
from ecomflow.pipelines.batch import new_run_id, run_batch
from ecomflow.pipelines.staged import AfterPublish, QualityGate, StagedRun
from ecomflow.runtime import LAKE_CATALOG, build_runtime
from ecomflow.spark.report import RunReport
from ecomflow.stores import catalog, iceberg, notify, redshift

log = logging.getLogger(__name__)


def publish_gate(config: BatchConfig) -> QualityGate | None:
    """The quality gate the batch job runs before publishing (None with `--quality_gate off`)."""
    if not config.quality_gate:
        log.warning("quality gate is off (--quality_gate off): staged data is published unaudited")
        return None
    from ecomflow.pipelines.quality import QualityGate as GreatExpectationsGate

    return GreatExpectationsGate()


def catalog_hook(config: BatchConfig) -> AfterPublish | None:
    """The hook that shows the published tables in the Glue Data Catalog; None without `--catalog_database`.

    Where the lake's Iceberg catalog is the Glue Data Catalog (Glue's `spark.sql.catalog.lake`),
    every commit already moved the Glue table's `metadata_location`: nothing is left to do. Where it
    is another (the local JDBC catalog), the Glue tables are pointed at the published metadata, as
    Iceberg's GlueCatalog would have done, so Athena (and its local stand-in) read that snapshot.
    """
    database = config.catalog_database
    if not database:
        return None

    def register_catalog(spark: SparkSession, staged: StagedRun) -> None:
        tables = (staged.curated.table, staged.quarantine.table)
        if tables[0].catalog == LAKE_CATALOG:
            return
        catalog.register_tables(aws.client("glue"), database, staged.config.lake_uri,
                                {table.name: iceberg.metadata_location(spark, table) for table in tables})

    return register_catalog


def redshift_hook(config: BatchConfig) -> AfterPublish | None:
    """The after-publish hook that migrates and upserts a run's curated partitions, or None when off."""
    if not config.redshift.enabled:
        return None

    def upsert_redshift(spark: SparkSession, staged: StagedRun) -> None:
        target = redshift.redshift_target(staged.config.redshift)
        assert target is not None  # the mode is not "off"
        target.migrate()
        target.upsert_partitions(spark, staged.curated.table, staged.curated.partitions)

    return upsert_redshift


class StorageUpdated:
    """After-publish hook: tell the topic which partitions a run published, with rows and revenue."""

    def __init__(self, topic_arn: str | None, job_name: str) -> None:
        self.topic_arn = topic_arn
        self.job_name = job_name

    def __call__(self, spark: SparkSession, staged_run: StagedRun) -> None:
        report = staged_run.report
        subject = (f"EcomFlow {self.job_name}: storage updated, {report.rows_curated} rows in "
                   f"{len(report.partitions_written)} partitions")
        notify.publish_event(self.topic_arn, subject, notify.storage_updated_message(report, self.job_name))


def publish_hooks(config: BatchConfig) -> tuple[AfterPublish, ...]:
    """The after-publish sinks of the batch job, in the order they run.

    Stores first (Glue Catalog partitions, Redshift upsert), the "storage updated" SNS message last,
    so that subscribers hear about data they can already query.
    """
    stores = tuple(hook for hook in (catalog_hook(config), redshift_hook(config)) if hook is not None)
    return (*stores, StorageUpdated(config.topic_arn, config.job_name))


REPORT_FILE = "report.json"


def report_uri(lake_uri: str, run_id: str) -> str:
    """Where a run's report is kept in the lake: `<lake>/_reports/<run_id>/report.json`."""
    return f"{contract.zone_uri(lake_uri, contract.REPORTS_ZONE)}/{run_id}/{REPORT_FILE}"


def keep_report(spark: SparkSession | None, report: RunReport) -> str | None:
    """Write the run report into its lake (`report_uri`), so readers of the lake find it there.

    A local lake is written directly, any other (s3://) through the session's Hadoop file system.
    The report is a by-product of a run that already happened: a failure to keep it is logged, not
    raised. Returns the URI written, or None.
    """
    uri = report_uri(report.lake, report.run_id)
    try:
        if uri.startswith("file://"):
            path = Path(uri[len("file://"):])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(report.to_json() + "\n", encoding="utf-8")
        elif spark is not None:
            jvm = spark.sparkContext._jvm
            assert jvm is not None  # a live session has a JVM
            target = jvm.org.apache.hadoop.fs.Path(uri)
            stream = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).create(target, True)
            try:
                stream.write(bytearray((report.to_json() + "\n").encode("utf-8")))
            finally:
                stream.close()
        else:
            return None
    except Exception as exc:  # the run is done either way: say why its report is missing, do not fail it
        log.warning("run report not kept at %s: %s", uri, exc)
        return None
    return uri


def run_batch_job(config: BatchConfig, run_id: str | None = None) -> RunReport:
    """The batch job as Glue runs it: build the runtime, gate, publish, run the stores' hooks.

    The report is kept in the lake (`report_uri`, the audited one when the gate failed) and written
    to `config.report_path` when set. Every failure sends the "job failed" SNS message (when a topic
    is configured) and is re-raised, marked as reported once the message went out
    (`notify.was_reported`); a gate failure carries the audited report (`exc.report`).

    Raises:
        QualityGateError: the gate stopped the run; nothing was published.
    """
    run_id = run_id or new_run_id()
    gate = publish_gate(config)
    runtime = None
    try:
        runtime = build_runtime(config.job_name)
        config = replay_config(runtime.spark, config, run_id)  # a stream-archive input: rewritten as CSV first
        report = run_batch(runtime, config, gate=gate, after_publish=publish_hooks(config), run_id=run_id)
    except Exception as exc:  # every failure is announced, then raised as it was
        audited = getattr(gate, "last_report", None)
        if notify.notify_job_failed(config.topic_arn, config.job_name, run_id, exc, audited) is not None:
            notify.mark_reported(exc)
        if audited is not None:
            if isinstance(exc, QualityGateError):
                exc.report = audited
                keep_report(runtime.spark if runtime is not None else None, audited)
            if config.report_path:
                audited.write(config.report_path)
        raise
    keep_report(runtime.spark, report)
    if config.report_path:
        report.write(config.report_path)
    return report
