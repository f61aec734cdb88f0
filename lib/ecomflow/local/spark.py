"""A Spark session this process starts itself: only where nobody launched Spark (the CLI, tests, notebooks).

Under spark-submit, Glue or any cluster manager the launcher's session is taken as configured
(`ecomflow.runtime`); this module is the laptop's, registered as the `local` entry of
`ecomflow.spark_sessions`, so the runtime adapter finds it by name and never imports it.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from ecomflow.local import iceberg, jvm_archive
from ecomflow.runtime import OWN_SESSION_MARKER, apply_session_settings, launched_by_launcher, launched_session

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
# Session settings of a session we started ourselves, over the runtime's SESSION_SETTINGS: our JVM
# compiles huge methods (-XX:-DontCompileHugeMethods above), so whole-stage code generation stays on.
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
# The same driver serves the lake's Iceberg JDBC catalog, whose jars `make iceberg-jars` builds
# (ecomflow.local.iceberg); the Iceberg extensions are a static setting, so they go in here too.
POSTGRES_JDBC_JAR = os.environ.get("ECOMFLOW_JDBC_JAR", "/usr/share/java/postgresql.jar")
_JARS = [jar for jar in (POSTGRES_JDBC_JAR,) if os.path.isfile(jar)] + iceberg.jars()
if _JARS:
    LOCAL_SETTINGS["spark.jars"] = ",".join(_JARS)
LOCAL_SETTINGS.update(iceberg.session_settings())


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
    archive = jvm_archive.java_options(settings.get("spark.jars", ""))
    if archive:  # the class archive `make setup` built: a faster start of the JVM we launch
        settings["spark.driver.extraJavaOptions"] = f"{settings['spark.driver.extraJavaOptions']} {archive}"
    for key, value in {**settings, **(extra or {})}.items():
        builder = builder.config(key, value)
    spark = apply_session_settings(builder.getOrCreate())
    for key, value in LOCAL_SESSION_SETTINGS.items():
        spark.conf.set(key, value)
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
    for logger, level in LOCAL_LOG_LEVELS.items():
        log4j.core.config.Configurator.setLevel(logger, log4j.Level.getLevel(level))
    return spark
