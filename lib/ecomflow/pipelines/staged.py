"""What a batch run staged, and the protocols of what judges and follows it: the gate and the hooks.

The run's rows wait on an audit branch of each Iceberg table (`stores.iceberg.stage`) until the
gate passed; publishing moves `main` (`stores.iceberg.publish`). Apart from the pipeline
(`pipelines/batch.py`) so that the gate (`pipelines/quality.py`) and the after-publish hooks
(`app/batch_job.py`) can name `StagedRun` without importing the pipeline; the stores below take
plain values (tables, partitions, the report), never a `StagedRun`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pyspark.sql import SparkSession

from ecomflow.config import BatchConfig
from ecomflow.spark.report import RunReport
from ecomflow.stores.iceberg import StagedTable


class QualityGate(Protocol):
    """A gate raises QualityGateError to stop publishing: on the input before the run reads it, on the staged run."""

    def check_input(self, spark: SparkSession, config: BatchConfig, run_id: str) -> None:
        """Judge the input files before anything is read (their heads, not a Spark pass)."""

    def __call__(self, spark: SparkSession, staged_run: StagedRun) -> None:
        """Judge the staged tables and the report."""


# Hooks run after the lake is published (catalog, Redshift, notifications), in order.
AfterPublish = Callable[[SparkSession, "StagedRun"], None]


class StagedRun:
    """What one run staged: its report, and what it merged into each table's audit branch."""

    def __init__(self, config: BatchConfig, report: RunReport, curated: StagedTable,
                 quarantine: StagedTable) -> None:
        self.config = config
        self.report = report
        self.curated = curated
        self.quarantine = quarantine
