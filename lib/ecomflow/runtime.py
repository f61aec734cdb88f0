"""The runtime adapter: the one place that knows whether the code runs in AWS Glue or not.

Who starts Spark decides who configures it. When a launcher started it (spark-submit, AWS Glue,
EMR, any cluster manager: `launched_by_launcher`), the session is taken as configured and only
the product's own session settings are set (`SESSION_SETTINGS`: time zone, parser policy, ...);
master, bind address, memory, UI and jars stay the launcher's. In Glue (or the glue-libs
container) the `GlueContext` and `Job` are built on that SparkContext, so bookmarks work and
`commit()` is `job.commit()`. Only where nobody launched Spark does this process start a local
session bound to 127.0.0.1 (`LOCAL_SETTINGS`). Pipelines only ever see `runtime.spark` and call
`runtime.commit()` once every sink has succeeded.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

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
    # (Locally the JVM is ours and compiles huge methods instead: LOCAL_SESSION_SETTINGS.)
    "spark.sql.codegen.hugeMethodLimit": "8000",
    # A partitioned write keeps up to 32 files open per task instead of sorting all its rows first.
    "spark.sql.maxConcurrentOutputFileWriters": "32",
}

# Only for a session this process starts itself (never over a launcher's configuration).
LOCAL_SETTINGS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    # The driver's heap cap (`ECOMFLOW_DRIVER_MEMORY`; in local mode the driver is the executor too).
    # Sorts and shuffles spill beyond it, so memory stays flat as the input grows: 2 GB holds the
    # 10x and the 30x file alike (peak RSS 2.7 / 2.8 GB) and ran the 10x file faster than 4 GB did.
    "spark.driver.memory": os.environ.get("ECOMFLOW_DRIVER_MEMORY", "2g"),
    "spark.sql.warehouse.dir": os.path.join(os.environ.get("TMPDIR", "/tmp"), "ecomflow-warehouse"),
    # The parallel collector: throughput over pause times for a batch driver (-7 % wall on the real file).
    # JVM warnings go to stderr: stdout is the CLI's output.
    # -XX:-DontCompileHugeMethods: JIT-compile the large methods of whole-stage code generation, which
    # then beats Spark's fallback (-12 % wall at x10; see LOCAL_SESSION_SETTINGS).
    "spark.driver.extraJavaOptions": "-Dderby.system.home=/tmp/ecomflow-derby -XX:+UseParallelGC "
                                     "-XX:-DontCompileHugeMethods -Xlog:disable -Xlog:all=warning:stderr",
}
# Session settings of a session we started ourselves, over SESSION_SETTINGS: our JVM compiles huge
# methods (-XX:-DontCompileHugeMethods above), so whole-stage code generation stays on for them.
LOCAL_SESSION_SETTINGS = {"spark.sql.codegen.hugeMethodLimit": "65535"}
# JVM loggers a session we started turns down. Parquet's MemoryManager warns, once per writer it
# opens, when the writers' 128 MB row-group budgets add up to more than 95 % of the heap (2 tasks x
# 13 month partitions with a 2 GB heap) and lowers the row-group size; the files of this lake are a
# few MB, far below either size, so nothing changes but the noise.
# FileStreamSink warns with a whole JVM stack trace when it cannot look under an input path for a
# streaming sink's metadata (a file system it cannot reach: `s3://` without Glue's jars, no access);
# the read then fails with that cause, which the CLI reports in one line.
LOCAL_LOG_LEVELS = {"org.apache.parquet.hadoop.MemoryManager": "ERROR",
                    "org.apache.spark.sql.execution.streaming.FileStreamSink": "ERROR"}
# PostgreSQL's JDBC driver (Debian libpostgresql-jdbc-java) for the local Redshift stand-in: Spark's JDBC
# source loads the driver class on the driver, so the jar goes in when the JVM starts (spark.jars).
POSTGRES_JDBC_JAR = os.environ.get("ECOMFLOW_JDBC_JAR", "/usr/share/java/postgresql.jar")
if os.path.isfile(POSTGRES_JDBC_JAR):
    LOCAL_SETTINGS["spark.jars"] = POSTGRES_JDBC_JAR


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
        from ecomflow.errors import ConfigError

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


def _started_here(spark: SparkSession) -> bool:
    return spark.sparkContext.getConf().get(OWN_SESSION_MARKER) == "true"


def apply_session_settings(spark: SparkSession) -> SparkSession:
    """Set the product's own session settings (time zone, parser policy, ...) and nothing else."""
    own = _started_here(spark)
    for key, value in {**SESSION_SETTINGS, **(LOCAL_SESSION_SETTINGS if own else {})}.items():
        spark.conf.set(key, value)
    if own:
        log4j = spark.sparkContext._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
        for logger, level in LOCAL_LOG_LEVELS.items():
            log4j.core.config.Configurator.setLevel(logger, log4j.Level.getLevel(level))
    return spark


def launched_session() -> SparkSession:
    """The session the launcher configured (master, memory, jars, UI are its business), with our session settings."""
    return apply_session_settings(SparkSession.builder.getOrCreate())


def local_session(master: str | None = None, app_name: str = "ecomflow",
                  extra: dict[str, str] | None = None) -> SparkSession:
    """Start (or reuse) the local SparkSession on 127.0.0.1, or take the launcher's where one started Spark.

    Only a session this process starts gets the local settings (`LOCAL_SETTINGS`, `master`,
    `extra`); under spark-submit or Glue the launcher's configuration stays as it is.
    """
    if launched_by_launcher():
        return launched_session()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    builder = builder.master(master or os.environ.get("ECOMFLOW_SPARK_MASTER", "local[*]"))
    settings = {**LOCAL_SETTINGS, OWN_SESSION_MARKER: "true"}
    from ecomflow.local import jvm_archive  # local only: a faster start of the JVM we launch ourselves

    archive = jvm_archive.java_options(settings.get("spark.jars", ""))
    if archive:  # the class archive `make setup` built
        settings["spark.driver.extraJavaOptions"] = f"{settings['spark.driver.extraJavaOptions']} {archive}"
    for key, value in {**settings, **(extra or {})}.items():
        builder = builder.config(key, value)
    return apply_session_settings(builder.getOrCreate())


def build_runtime(job_name: str, args: dict[str, str] | None = None,
                  extra: dict[str, str] | None = None) -> Runtime:
    """The Glue runtime where Glue launched the job, else a plain SparkSession (the launcher's, or our local one).

    A launcher's session (spark-submit, Glue, any cluster manager) is taken as configured; only
    where nobody launched Spark does this process start a local one (`local_session`).
    `ECOMFLOW_RUNTIME=local` never builds a GlueContext, `=glue` insists on one.

    Raises:
        EnvironmentMissingError: `ECOMFLOW_RUNTIME=glue` but Glue's jars are not on the classpath.
    """
    wanted = wanted_runtime()
    if not launched_by_launcher():
        spark = local_session(app_name=job_name, extra=extra)
        log.info("runtime: local Spark %s on %s", spark.version, spark.sparkContext.master)
        return Runtime(spark=spark)
    context = SparkContext.getOrCreate()
    glue_present = wanted != "local" and _jvm_has_class(context, GLUE_CONTEXT_CLASS)
    if wanted == "glue" and not glue_present:
        from ecomflow.errors import EnvironmentMissingError

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
