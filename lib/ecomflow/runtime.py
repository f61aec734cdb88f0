"""The runtime adapter: the one place that knows whether the code runs in AWS Glue or not.

In Glue (or the glue-libs container) it wraps a `GlueContext` and a `Job`, so bookmarks work
and `commit()` is `job.commit()`. Everywhere else it is a plain local SparkSession bound to
127.0.0.1. Pipelines only ever see `runtime.spark` and call `runtime.commit()` once every
sink has succeeded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from ecomflow import jvm_archive

log = logging.getLogger(__name__)

GLUE_CONTEXT_CLASS = "com.amazonaws.services.glue.GlueContext"

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

# Only for a session we start ourselves (never override what Glue configured).
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
LOCAL_LOG_LEVELS = {"org.apache.parquet.hadoop.MemoryManager": "ERROR"}
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


def _jvm_has_class(spark: SparkSession, name: str) -> bool:
    try:
        spark.sparkContext._jvm.java.lang.Class.forName(name)  # type: ignore[union-attr]
        return True
    except Exception:  # py4j raises Py4JJavaError (ClassNotFoundException) or a JavaPackage error
        return False


def local_session(master: str | None = None, app_name: str = "ecomflow",
                  extra: dict[str, str] | None = None) -> SparkSession:
    """Start (or reuse) a SparkSession; local settings are applied only where no master is set."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON") or _python())
    builder = SparkSession.builder.appName(app_name)
    from pyspark import SparkConf

    started_here = not SparkConf().contains("spark.master")
    if started_here:
        builder = builder.master(master or os.environ.get("ECOMFLOW_SPARK_MASTER", "local[*]"))
        for key, value in LOCAL_SETTINGS.items():
            builder = builder.config(key, value)
        archive = jvm_archive.java_options(LOCAL_SETTINGS.get("spark.jars", ""))
        if archive:  # a faster JVM start from the class archive `make setup` built (ecomflow.jvm_archive)
            builder = builder.config("spark.driver.extraJavaOptions",
                                     f"{LOCAL_SETTINGS['spark.driver.extraJavaOptions']} {archive}")
    for key, value in (extra or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    settings = {**SESSION_SETTINGS, **(LOCAL_SESSION_SETTINGS if started_here else {})}
    for key, value in settings.items():
        spark.conf.set(key, value)
    if started_here:
        log4j = spark.sparkContext._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
        for logger, level in LOCAL_LOG_LEVELS.items():
            log4j.core.config.Configurator.setLevel(logger, log4j.Level.getLevel(level))
    return spark


def _python() -> str:
    import sys

    return sys.executable


def build_runtime(job_name: str, args: dict[str, str] | None = None,
                  extra: dict[str, str] | None = None) -> Runtime:
    """Return the Glue runtime where Glue's jars are loaded, else a local one.

    `ECOMFLOW_RUNTIME=local` forces the local runtime, `=glue` insists on Glue.
    """
    wanted = os.environ.get("ECOMFLOW_RUNTIME", "auto")
    spark = local_session(app_name=job_name, extra=extra)
    glue_present = wanted != "local" and _jvm_has_class(spark, GLUE_CONTEXT_CLASS)
    if wanted == "glue" and not glue_present:
        from ecomflow.errors import EnvironmentMissingError

        raise EnvironmentMissingError("ECOMFLOW_RUNTIME=glue but Glue's jars are not on the classpath")
    if not glue_present:
        log.info("runtime: local Spark %s", spark.version)
        return Runtime(spark=spark)
    from awsglue.context import GlueContext
    from awsglue.job import Job

    glue_context = GlueContext(spark.sparkContext)
    job = Job(glue_context)
    job.init(job_name, {"JOB_NAME": job_name, **(args or {})})
    log.info("runtime: AWS Glue, job %s", job_name)
    return Runtime(spark=glue_context.spark_session, glue_context=glue_context, job=job)
