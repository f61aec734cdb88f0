"""The local stand-in for Redshift: PostgreSQL 15 behind the `RedshiftTarget` interface.

Spark writes the rows over JDBC into an unlogged staging table, psycopg deletes the rows `sales`
already holds unchanged and runs the shared MERGE (`ecomflow.stores.redshift.unchanged_delete_sql`,
`merge_sql`) and drops the staging table. A batch's partitions are read from the lake's Iceberg
table at its committed snapshot; a micro-batch stages its own rows. Product code never imports
this module: `stores.redshift.redshift_target` finds `PostgresTarget` by name, registered as
`postgres` in the entry-point group `ecomflow.redshift_targets` (`setup.py`, `ecomflow.plugins`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ecomflow.errors import ConfigError, EnvironmentMissingError, PublishError
from ecomflow.stores import iceberg
from ecomflow.stores.redshift import (
    FACT_TABLE,
    SALES_COLUMNS,
    RedshiftTarget,
    UpsertResult,
    merge_sql,
    unchanged_delete_sql,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ecomflow.stores.iceberg import Commit, LakeTable

log = logging.getLogger(__name__)

JDBC_DRIVER = "org.postgresql.Driver"


def jdbc_from_dsn(dsn: str) -> tuple[str, dict[str, str]]:
    """The Spark JDBC URL and properties (user, password, driver) of a libpq URL."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ConfigError("not a PostgreSQL URL: postgresql://user:password@host:port/database expected")
    database = parts.path.lstrip("/") or "postgres"
    url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}/{database}"
    props = {"driver": JDBC_DRIVER}
    if parts.username:
        props["user"] = unquote(parts.username)
    if parts.password:
        props["password"] = unquote(parts.password)
    return url, props


def jdbc_safe_timestamps(df: DataFrame) -> DataFrame:
    """Shift timestamps so the JDBC driver writes the lake's wall-clock time.

    The PostgreSQL driver renders a timestamp in the JVM's default zone, while the lake's
    timestamps are wall-clock times in the session zone (UTC); where the two differ the values
    are moved by the difference. A no-op where the JVM runs in the session zone.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = df.sparkSession
    jvm_zone = spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID()  # type: ignore[union-attr]
    session_zone = spark.conf.get("spark.sql.session.timeZone") or jvm_zone
    if jvm_zone == session_zone:
        return df
    return df.select(*[
        F.to_utc_timestamp(F.from_utc_timestamp(F.col(f.name), session_zone), jvm_zone).alias(f.name)
        if isinstance(f.dataType, T.TimestampType) else F.col(f.name)
        for f in df.schema.fields
    ])


class PostgresTarget(RedshiftTarget):
    """PostgreSQL 15 playing Redshift: Spark JDBC into a staging table, then MERGE through psycopg."""

    dialect = "postgres"
    reads_lake = False  # upsert_batch stages the batch's own rows: it needs nothing of the lake

    def __init__(self, dsn: str, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock)
        self.dsn = dsn
        self.jdbc_url, self.jdbc_properties = jdbc_from_dsn(dsn)

    def _connect(self):  # noqa: ANN202 - psycopg.Connection
        import psycopg

        try:
            return psycopg.connect(self.dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise EnvironmentMissingError(f"cannot reach PostgreSQL at {self.jdbc_url}: "
                                          f"{str(exc).strip().splitlines()[0]}") from None

    def execute(self, statements: Sequence[str], name: str) -> list[int | None]:
        import psycopg

        counts: list[int | None] = []
        try:
            with self._connect() as conn, conn.transaction():
                for statement in statements:
                    cursor = conn.execute(statement)  # our own SQL, no parameters
                    counts.append(cursor.rowcount if cursor.rowcount >= 0 else None)
        except psycopg.Error as exc:
            raise PublishError(f"PostgreSQL refused {name}: {str(exc).strip()}") from exc
        return counts

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return list(conn.execute(sql).fetchall())

    def upsert_frame(self, df: DataFrame) -> int:
        """MERGE the rows of `df` (curated columns) into `sales`; return the rows merged."""
        stage = f"{FACT_TABLE}_stage_{uuid.uuid4().hex[:12]}"
        self.execute([f"CREATE UNLOGGED TABLE {stage} (LIKE {FACT_TABLE})"], name=f"create {stage}")
        try:
            rows = jdbc_safe_timestamps(df.select(*SALES_COLUMNS))
            try:
                (rows.write.format("jdbc").option("url", self.jdbc_url).option("dbtable", stage)
                 .options(**self.jdbc_properties).option("batchsize", "5000").mode("append").save())
            except Exception as exc:  # py4j wraps the JVM's errors; a missing driver is the usual one
                if "ClassNotFoundException" in str(exc) or "No suitable driver" in str(exc):
                    raise EnvironmentMissingError(
                        "the PostgreSQL JDBC driver is not on Spark's classpath: start Spark with "
                        "spark.jars=/usr/share/java/postgresql.jar (libpostgresql-jdbc-java)") from None
                raise
            merged = self.execute([unchanged_delete_sql(stage), merge_sql(stage)],
                                  name=f"MERGE {stage} into {FACT_TABLE}")[1]
        finally:
            self.execute([f"DROP TABLE IF EXISTS {stage}"], name=f"drop {stage}")
        return merged or 0

    def upsert_partitions(self, spark: SparkSession, table: LakeTable,
                          partitions: Sequence[str]) -> UpsertResult:
        """Stage the committed rows of `table`'s `partitions` (main's current snapshot) and MERGE them."""
        if not partitions:
            return UpsertResult((), 0)
        touched = [iceberg.partition_values(table, p) for p in partitions]
        merged = self.upsert_frame(iceberg.read_table(spark, table, touched=touched))
        log.info("PostgreSQL: merged %d rows of %d partitions into %s", merged, len(partitions), FACT_TABLE)
        return UpsertResult(tuple(partitions), merged)

    def upsert_batch(self, spark: SparkSession, table: LakeTable, curated: DataFrame,
                     commits: Sequence[Commit]) -> UpsertResult:
        """Stage just the batch's own rows (`curated`) and MERGE them; the lake is not read."""
        return UpsertResult((), self.upsert_frame(curated))
