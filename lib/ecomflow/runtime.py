"""The runtime adapter: the one place that knows whether the code runs in AWS Glue or not.

Who starts Spark decides who configures it. When a launcher started it (spark-submit, AWS Glue,
EMR, any cluster manager: `launched_by_launcher`), the session is taken as configured and only
the product's own session settings are set (`SESSION_SETTINGS`: time zone, parser policy, ...);
master, bind address, memory, UI and jars stay the launcher's. In Glue (or the glue-libs
container) the `GlueContext` and `Job` are built on that SparkContext, so bookmarks work and
`commit()` is `job.commit()`. Only where nobody launched Spark does this process start a session
of its own, and that one is the laptop's business (`ecomflow.local.spark`, found by name).
Pipelines only ever see `runtime.spark` and call `runtime.commit()` once every sink has succeeded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

from ecomflow import plugins
from ecomflow.errors import ConfigError, EnvironmentMissingError

log = logging.getLogger(__name__)

GLUE_CONTEXT_CLASS = "com.amazonaws.services.glue.GlueContext"
ENV_RUNTIME = "ECOMFLOW_RUNTIME"
RUNTIMES = ("auto", "local", "glue")
# Set on a session this process started itself, so that a later call knows the session is ours.
OWN_SESSION_MARKER = "spark.ecomflow.localSession"

# Settings every session gets, in Glue and locally: the lake is written in UTC wall-clock
# terms and a date that the new parser rejects is a null (quarantined), never an exception.
SESSION_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # The JVM does not JIT-compile a method over 8,000 bytes of bytecode; the classify stage's
    # generated code is larger than that, so with Spark's default limit (65,535) it ran interpreted.
    # At this limit Spark falls back to its (compiled) expression evaluators instead: half the time.
    # (Locally the JVM is ours and compiles huge methods instead: ecomflow.local.spark.)
    "spark.sql.codegen.hugeMethodLimit": "8000",
    # A partitioned write keeps up to 32 files open per task instead of sorting all its rows first.
    "spark.sql.maxConcurrentOutputFileWriters": "32",
}


# The Spark catalog of the lake's Iceberg tables where a launcher configured one: the Glue jobs get
# `--datalake-formats iceberg` and `spark.sql.catalog.lake` on the Glue Data Catalog (cloudformation/).
LAKE_CATALOG = "lake"


def lake_catalog(spark: SparkSession, lake_uri: str) -> str:
    """The name of the Spark catalog that holds the lake's Iceberg tables.

    Where the launcher configured `spark.sql.catalog.lake` (Glue: the Glue Data Catalog) it is
    `lake`; elsewhere the local stand-in registers the lake's own JDBC catalog on the local
    PostgreSQL (`ecomflow.local.iceberg`) and names it.
    """
    if spark.conf.get(f"spark.sql.catalog.{LAKE_CATALOG}", None):
        return LAKE_CATALOG
    register = plugins.load(plugins.ICEBERG_CATALOGS, "local")  # ecomflow.local.iceberg.register_catalog
    return str(register(spark, lake_uri))


@dataclass
class Runtime:
    """A Spark session plus, in Glue, the GlueContext and Job that own bookmarks."""

    spark: SparkSession
    glue_context: Any = None
    job: Any = None
    committed: bool = field(default=False, init=False)

    @property
    def is_glue(self) -> bool:
        return self.glue_context is not None

    def commit(self) -> None:
        """Commit the Glue job (bookmarks); call only after every sink succeeded."""
        if self.job is not None:
            self.job.commit()
        self.committed = True


def _jvm_has_class(spark: SparkSession | SparkContext, name: str) -> bool:
    context = spark.sparkContext if isinstance(spark, SparkSession) else spark
    try:
        context._jvm.java.lang.Class.forName(name)  # type: ignore[union-attr]
        return True
    except Exception:  # py4j raises Py4JJavaError (ClassNotFoundException) or a JavaPackage error
        return False


def wanted_runtime() -> str:
    """`ECOMFLOW_RUNTIME`: `auto` (default), `local` (never GlueContext) or `glue` (insist on it)."""
    wanted = os.environ.get(ENV_RUNTIME, "auto").strip().lower() or "auto"
    if wanted not in RUNTIMES:
        raise ConfigError(f"{ENV_RUNTIME}={wanted!r}: use one of {', '.join(RUNTIMES)}")
    return wanted


def launched_by_launcher() -> bool:
    """Whether Spark was (or will be) started for this process by somebody else: then it is not ours to configure.

    Decided from facts that hold before any session exists, never from a Python-side `SparkConf`
    (which in a fresh driver knows nothing of what the launcher set):
    - spark-submit, AWS Glue, EMR and every cluster manager start the JVM first and hand the Python
      driver its gateway (`PYSPARK_GATEWAY_PORT`);
    - `ECOMFLOW_RUNTIME=glue`: Glue's own Spark configuration (the glue-libs container's
      `spark-defaults.conf`) is in charge;
    - a SparkContext already runs in this process that we did not start (a notebook's, a test
      harness's): it is taken as it is.
    """
    if os.environ.get("PYSPARK_GATEWAY_PORT") or wanted_runtime() == "glue":
        return True
    active = SparkContext._active_spark_context
    return active is not None and active.getConf().get(OWN_SESSION_MARKER) != "true"


def is_own_session(spark: SparkSession) -> bool:
    """Whether this process started `spark` itself (`ecomflow.local.spark` marks the sessions it starts)."""
    return spark.sparkContext.getConf().get(OWN_SESSION_MARKER) == "true"


def apply_session_settings(spark: SparkSession) -> SparkSession:
    """Set the product's own session settings (time zone, parser policy, ...) and nothing else."""
    for key, value in SESSION_SETTINGS.items():
        spark.conf.set(key, value)
    return spark


def launched_session() -> SparkSession:
    """The session the launcher configured (master, memory, jars, UI are its business), with our session settings."""
    return apply_session_settings(SparkSession.builder.getOrCreate())


def build_runtime(job_name: str, args: dict[str, str] | None = None,
                  extra: dict[str, str] | None = None) -> Runtime:
    """The Glue runtime where Glue launched the job, else a plain SparkSession (the launcher's, or our local one).

    A launcher's session (spark-submit, Glue, any cluster manager) is taken as configured; only
    where nobody launched Spark does this process start one, with the local stand-in registered as
    `local` in `ecomflow.spark_sessions` (`ecomflow.local.spark`; never in Glue).
    `ECOMFLOW_RUNTIME=local` never builds a GlueContext, `=glue` insists on one.

    Raises:
        EnvironmentMissingError: `ECOMFLOW_RUNTIME=glue` but Glue's jars are not on the classpath.
    """
    wanted = wanted_runtime()
    if not launched_by_launcher():
        start_local = plugins.load(plugins.SPARK_SESSIONS, "local")  # ecomflow.local.spark.local_session
        spark = start_local(app_name=job_name, extra=extra)
        log.info("runtime: local Spark %s on %s", spark.version, spark.sparkContext.master)
        return Runtime(spark=spark)
    context = SparkContext.getOrCreate()
    glue_present = wanted != "local" and _jvm_has_class(context, GLUE_CONTEXT_CLASS)
    if wanted == "glue" and not glue_present:
        raise EnvironmentMissingError("ECOMFLOW_RUNTIME=glue but Glue's jars are not on the classpath")
    if not glue_present:
        spark = launched_session()
        log.info("runtime: Spark %s on the launcher's master %s", spark.version, context.master)
        return Runtime(spark=spark)
    from awsglue.context import GlueContext
    from awsglue.job import Job

    glue_context = GlueContext(context)
    job = Job(glue_context)
    job.init(job_name, {"JOB_NAME": job_name, **(args or {})})
    log.info("runtime: AWS Glue, job %s on %s", job_name, context.master)
    return Runtime(spark=apply_session_settings(glue_context.spark_session), glue_context=glue_context, job=job)


def stop_job_session() -> None:
    """Stop the job's session at the end of a job script, except in Glue (Glue ends its job runs itself).

    Under spark-submit the session is otherwise stopped by a JVM shutdown hook racing the exit,
    with executors being relaunched meanwhile: the event log could be left unfinished.
    """
    session = SparkSession.getActiveSession()
    if session is not None and not _jvm_has_class(session, GLUE_CONTEXT_CLASS):
        session.stop()
