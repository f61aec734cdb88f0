"""The lake's tables on Apache Iceberg: create them, merge new rows, audit on a branch, publish, history.

Tables are named `catalog.database.table`; which catalog that is (the Glue Data Catalog on AWS, a
JDBC catalog on the local PostgreSQL on a laptop) is the runtime adapter's business
(`ecomflow.runtime.lake_catalog`), never this module's.

Writes add the rows whose key a table does not hold yet, in one commit, idempotently and safely
beside concurrent writers (docs/decisions.md, "Iceberg: how two writers meet"):

- `MERGE INTO ... ON t.key = s.key AND <the touched partitions>`: a replay finds its rows and adds
  nothing, and only the touched partitions are read.
- The MERGE has a `WHEN MATCHED` clause that never fires. An insert-only MERGE is planned by Spark
  as a plain append, which Iceberg commits without validation: two writers adding the same key at
  once both commit it (measured: 480 rows, 247 distinct keys). With a matched clause it stays a
  row-level operation, which Iceberg validates against every commit since the one it read.
- Tables are `serializable` and `merge-on-read`: a commit that meets a concurrent commit adding
  files to the same partitions fails validation and is retried on the new snapshot (its anti-join
  then sees the other writer's rows); since no clause ever deletes, no delete file is written and a
  commit costs only its new rows (copy-on-write would rewrite every file holding a matched key).
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from ecomflow import contract, runtime
from ecomflow.errors import ConfigError, PublishError
from ecomflow.spark.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA

log = logging.getLogger(__name__)

# Table properties of every lake table (see the module doc for why these).
TABLE_PROPERTIES: Mapping[str, str] = {
    "format-version": "2",
    "write.merge.mode": "merge-on-read",
    "write.merge.isolation-level": "serializable",
    "write.delete.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.wap.enabled": "true",
    # Iceberg's own retries of a commit whose base moved on but which still validates.
    "commit.retry.num-retries": "10",
    "write.parquet.compression-codec": "snappy",
}
# Our retries of a MERGE that failed validation (another writer committed rows in its partitions).
MERGE_ATTEMPTS = 12
_RETRYABLE = ("ValidationException", "CommitFailedException", "Found conflicting files")
BRANCH_PREFIX = "audit_"
SUMMARY_PREFIX = "ecomflow."  # our keys in a snapshot summary (`history` shows them)
SUMMARY_RUN = "ecomflow.run-id"  # the batch run that made a commit
SUMMARY_JOB = "ecomflow.job"  # the job (batch or stream) that made a commit
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class LakeTable:
    """One Iceberg table of the lake: its identifier, location, schema, partition columns and key."""

    catalog: str
    database: str
    name: str
    location: str
    schema: T.StructType
    partitions: tuple[str, ...]
    key: str

    @property
    def ident(self) -> str:
        """`catalog.database.table`, quoted where SQL needs it."""
        return ".".join(_quote(part) for part in (self.catalog, self.database, self.name))

    def at(self, branch: str | None) -> str:
        """The identifier of the table's `branch` (`...table.branch_<name>`), or of `main` for None."""
        if branch is None:
            return self.ident
        return f"{self.ident}.{_quote('branch_' + _checked(branch))}"

    @property
    def short(self) -> str:
        """`database.table`, as the Iceberg procedures take it."""
        return f"{self.database}.{self.name}"


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"no SQL literal for a partition value {value!r}")
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def lake_tables(catalog: str, database: str, lake_uri: str) -> tuple[LakeTable, LakeTable]:
    """The lake's curated `sales` and quarantine tables, at `<lake>/curated/sales` and `<lake>/quarantine/sales`."""
    return (
        LakeTable(catalog, database, contract.CURATED_TABLE, contract.zone_uri(lake_uri, contract.CURATED_ZONE),
                  CURATED_SCHEMA, CURATED_PARTITIONS, "record_id"),
        LakeTable(catalog, database, contract.QUARANTINE_TABLE,
                  contract.zone_uri(lake_uri, contract.QUARANTINE_ZONE), QUARANTINE_SCHEMA, QUARANTINE_PARTITIONS,
                  "quarantine_id"),
    )


def open_tables(spark: SparkSession, lake_uri: str,
                database: str = contract.LAKE_DATABASE) -> tuple[LakeTable, LakeTable]:
    """The lake's `sales` and `sales_quarantine` in the session's lake catalog, created where missing.

    Which catalog that is, is the runtime adapter's business (`runtime.lake_catalog`). A session
    checks that a table exists once (`ensure_table`), not at every micro-batch.
    """
    tables = lake_tables(runtime.lake_catalog(spark, lake_uri), database, lake_uri)
    for table in tables:
        if (id(spark), table.ident) not in _ENSURED:
            ensure_table(spark, table)
            _ENSURED.add((id(spark), table.ident))
    return tables


_ENSURED: set[tuple[int, str]] = set()


@dataclass(frozen=True)
class StagedTable:
    """What a batch run wrote to one table's audit branch: the partitions it touched and the branch's snapshot."""

    table: LakeTable
    branch: str
    partitions: tuple[str, ...]  # hive-style relative paths, e.g. "year=2011/month=1"
    snapshot_id: int | None = None  # the branch's snapshot after the run's commit (None: nothing written)

    @property
    def touched(self) -> list[dict[str, object]]:
        """The partitions as values (`{"year": 2011, "month": 1}`), as `merge_new_rows` takes them."""
        return [partition_values(self.table, rel) for rel in self.partitions]


def partition_path(values: Mapping[str, object], columns: Sequence[str]) -> str:
    """The hive-style relative path of one partition: `year=2011/month=1`."""
    return "/".join(f"{c}={values[c]}" for c in columns)


def partition_paths(table: LakeTable, touched: Sequence[Mapping[str, object]]) -> tuple[str, ...]:
    """`partition_path` of each touched partition of `table`, in `touched`'s order."""
    return tuple(partition_path(values, table.partitions) for values in touched)


def partition_values(table: LakeTable, rel: str) -> dict[str, object]:
    """`year=2011/month=1` -> `{"year": 2011, "month": 1}`, typed as `table`'s partition columns.

    Raises:
        ValueError: not a partition path of `table`.
    """
    types = {f.name: f.dataType for f in table.schema.fields}
    values: dict[str, object] = {}
    parts = rel.strip("/").split("/")
    for column, part in zip(table.partitions, parts, strict=False):
        name, sep, value = part.partition("=")
        if sep != "=" or name != column:
            raise ValueError(f"not a partition path of {table.name}: {rel!r}")
        values[column] = int(value) if isinstance(types[column], T.IntegralType) else value
    if len(parts) != len(table.partitions):
        raise ValueError(f"not a partition path of {table.name}: {rel!r}")
    return values


def create_table_sql(table: LakeTable) -> str:
    """`CREATE TABLE IF NOT EXISTS` of `table`: its columns, partitioning, location and properties."""
    columns = ", ".join(f"{_quote(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}"
                        for f in table.schema.fields)
    properties = ", ".join(f"'{k}' = '{v}'" for k, v in TABLE_PROPERTIES.items())
    location = table.location.replace("'", "\\'")
    return (f"CREATE TABLE IF NOT EXISTS {table.ident} ({columns}) USING iceberg "
            f"PARTITIONED BY ({', '.join(_quote(p) for p in table.partitions)}) "
            f"LOCATION '{location}' TBLPROPERTIES ({properties})")


def ensure_table(spark: SparkSession, table: LakeTable) -> None:
    """Create the namespace and the table unless they exist (idempotent, safe to race)."""
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {_quote(table.catalog)}.{_quote(table.database)}")
    try:
        spark.sql(create_table_sql(table))
    except Exception as exc:  # a concurrent creator won: the table is there, which is what we wanted
        if "AlreadyExists" not in str(exc) and "already exists" not in str(exc):
            raise


def partition_filter(alias: str | None, partitions: Sequence[str], touched: Sequence[Mapping[str, object]]) -> str:
    """`(t.year = 2011 AND t.month = 12) OR (...)` for the touched partitions; `false` for none."""
    if not touched:
        return "false"
    prefix = f"{alias}." if alias else ""
    terms = [" AND ".join(f"{prefix}{_quote(c)} = {_literal(values[c])}" for c in partitions) for values in touched]
    return " OR ".join(f"({term})" for term in terms)


def touched_partitions(rows: DataFrame, partitions: Sequence[str]) -> list[Mapping[str, object]]:
    """The distinct partition values `rows` falls in (one small Spark job), sorted."""
    found = [r.asDict() for r in rows.select(*partitions).distinct().collect()]
    return sorted(found, key=lambda values: tuple(str(values[c]).zfill(12) for c in partitions))


def merge_sql(table: LakeTable, source_view: str, touched: Sequence[Mapping[str, object]],
              branch: str | None = None) -> str:
    """The MERGE that adds the rows of `source_view` whose key `table` (or its `branch`) lacks."""
    key = _quote(table.key)
    return (f"MERGE INTO {table.at(branch)} t USING {_quote(source_view)} s "
            f"ON t.{key} = s.{key} AND ({partition_filter('t', table.partitions, touched)}) "
            # Never fires: keeps the MERGE a validated row-level operation (module doc).
            "WHEN MATCHED AND false THEN DELETE "
            "WHEN NOT MATCHED THEN INSERT *")


def _retryable(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in _RETRYABLE)


class _JavaCallable:
    """A Python function as a `java.util.concurrent.Callable`, for py4j to call back.

    An exception of the function is kept here and raised again in Python by the caller: what comes
    back through the JVM is only py4j's wrapper of it.
    """

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.error: BaseException | None = None

    def call(self) -> None:
        try:
            self.fn()
        except BaseException as exc:
            self.error = exc
            raise
        return None

    class Java:
        implements = ("java.util.concurrent.Callable",)


def with_commit_properties(spark: SparkSession, summary: Mapping[str, str] | None, fn: Callable[[], object]) -> None:
    """Run `fn` with `summary` as extra snapshot-summary properties of the Iceberg commits it makes.

    SQL (MERGE) takes no snapshot properties: Iceberg's Spark writes read them from a thread-local
    that `org.apache.iceberg.spark.CommitMetadata.withCommitProperties` sets around a Callable. The
    Callable is this Python function, called back by py4j: PySpark's pinned-thread ClientServer
    runs the callback on the Python thread that made the call, and the SQL it submits on the JVM
    thread that is waiting for it, so the commit sees the thread-local.
    """
    if not summary:
        fn()
        return
    from py4j.clientserver import ClientServer
    from pyspark.java_gateway import ensure_callback_server_started

    gateway = spark.sparkContext._gateway
    if not isinstance(gateway, ClientServer):
        # Py4J's JavaGateway could run the callback's SQL on another JVM thread: the commit would
        # silently lack the summary, and whoever finds a commit by it would find none.
        raise ConfigError("snapshot summaries need PySpark's pinned threads (PYSPARK_PIN_THREAD=true, the default)")
    ensure_callback_server_started(gateway)  # as PySpark's foreachBatch does
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    properties = jvm.java.util.HashMap()
    for key, value in summary.items():
        properties.put(str(key), str(value))
    callable_ = _JavaCallable(fn)
    try:
        jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
            properties, callable_, jvm.java.lang.Class.forName("java.lang.Exception"))
    except Exception:
        if callable_.error is not None:
            raise callable_.error from None
        raise


def merge_new_rows(spark: SparkSession, table: LakeTable, rows: DataFrame, branch: str | None = None,
                   touched: Sequence[Mapping[str, object]] | None = None,
                   attempts: int = MERGE_ATTEMPTS, backoff_s: float = 0.2,
                   summary: Mapping[str, str] | None = None) -> list[Mapping[str, object]]:
    """Add the rows of `rows` whose key the table lacks, in one commit; retried when a concurrent commit conflicts.

    `rows` must hold one row per key. Returns the partitions `rows` touches (none: nothing is done).
    `summary` (e.g. `{"ecomflow.batch-id": "7"}`) goes into the commit's snapshot summary
    (`with_commit_properties`); a replay that adds nothing still commits, and says so there too.

    Raises:
        PublishError: the commit still conflicted after `attempts` tries.
    """
    touched = touched_partitions(rows, table.partitions) if touched is None else list(touched)
    if not touched:
        return []
    view = f"ecomflow_merge_{uuid.uuid4().hex[:12]}"
    rows.select(*table.schema.fieldNames()).createOrReplaceTempView(view)
    sql = merge_sql(table, view, touched, branch)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with_commit_properties(spark, summary, lambda: spark.sql(sql))
                break
            except Exception as exc:
                if not _retryable(exc) or attempt == attempts:
                    if _retryable(exc):
                        raise PublishError(f"{table.short}: {attempts} commits conflicted with other writers; "
                                           f"last: {str(exc).splitlines()[0]}") from exc
                    raise
                pause = backoff_s * attempt * (0.5 + random.random())
                log.info("%s: commit conflicted with another writer (attempt %d), retrying in %.2f s",
                         table.short, attempt, pause)
                time.sleep(pause)
    finally:
        spark.catalog.dropTempView(view)
    return touched


# --- write-audit-publish by branch ----------------------------------------------------------------

def audit_branch(run_id: str) -> str:
    """The audit branch of a batch run: `audit_<run id>` with its punctuation as `_`."""
    return BRANCH_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", run_id)


def create_branch(spark: SparkSession, table: LakeTable, branch: str) -> None:
    """Branch `main` as it is now (an empty table gets an empty first snapshot); idempotent."""
    if current_snapshot_id(spark, table) is None:
        # A branch needs a snapshot to start from: commit an empty one.
        spark.createDataFrame([], table.schema).writeTo(table.ident).append()
    spark.sql(f"ALTER TABLE {table.ident} CREATE BRANCH IF NOT EXISTS {_quote(_checked(branch))}")


def drop_branch(spark: SparkSession, table: LakeTable, branch: str) -> None:
    """Drop `branch` (its snapshots go at the next snapshot expiry); a missing branch is fine."""
    spark.sql(f"ALTER TABLE {table.ident} DROP BRANCH IF EXISTS {_quote(_checked(branch))}")


def branches(spark: SparkSession, table: LakeTable) -> list[dict[str, Any]]:
    """The table's branches but `main`: name, snapshot id, and the time its snapshot was committed."""
    refs = spark.sql(f"SELECT r.name, r.snapshot_id, s.committed_at FROM {table.ident}.refs r "
                     f"LEFT JOIN {table.ident}.snapshots s ON r.snapshot_id = s.snapshot_id "
                     f"WHERE r.type = 'BRANCH' AND r.name <> 'main' ORDER BY r.name").collect()
    return [row.asDict() for row in refs]


def current_snapshot_id(spark: SparkSession, table: LakeTable, branch: str | None = None) -> int | None:
    """The snapshot `main` (or `branch`) points at; None for a table without snapshots."""
    name = "main" if branch is None else branch
    rows = spark.sql(f"SELECT snapshot_id FROM {table.ident}.refs WHERE name = '{_checked(name)}'").collect()
    return int(rows[0][0]) if rows else None


def publish_branch(spark: SparkSession, table: LakeTable, branch: str,
                   touched: Sequence[Mapping[str, object]] | None = None,
                   summary: Mapping[str, str] | None = None) -> str:
    """Make `main` hold what the audited `branch` holds; returns "fast-forward" or "merged".

    When no other commit reached `main` since the branch was made, `main` is fast-forwarded to the
    audited snapshot. When one did (a streaming micro-batch), the branch's rows that `main` lacks are
    merged into `main` instead: they are a subset of the audited rows, so the audit still holds.
    """
    try:
        spark.sql(f"CALL {_quote(table.catalog)}.system.fast_forward('{table.short}', 'main', '{_checked(branch)}')")
        return "fast-forward"
    except Exception as exc:
        if "fast-forward" not in str(exc).lower() and "ancestor" not in str(exc).lower():
            raise
    log.info("%s: main moved on since %s was made; merging the audited rows instead", table.short, branch)
    merge_new_rows(spark, table, read_table(spark, table, branch, touched), touched=touched, summary=summary)
    return "merged"


def stage(spark: SparkSession, table: LakeTable, rows: DataFrame, branch: str,
          summary: Mapping[str, str] | None = None) -> StagedTable:
    """Write-audit-publish, the write: the rows `table` lacks, merged into `branch` (made from `main` here).

    Nothing reaches `main` (readers) until `publish_branch`. No rows: no branch, nothing staged.
    `summary` goes into the commit's snapshot summary (the run id: `ecomflow history` shows it).
    """
    touched = touched_partitions(rows, table.partitions)
    if not touched:
        return StagedTable(table, branch, ())
    create_branch(spark, table, branch)
    merge_new_rows(spark, table, rows, branch=branch, touched=touched, summary=summary)
    return StagedTable(table, branch, partition_paths(table, touched), current_snapshot_id(spark, table, branch))


def publish(spark: SparkSession, staged: StagedTable, summary: Mapping[str, str] | None = None) -> int | None:
    """Write-audit-publish, the publish: `main` gets the audited branch (`publish_branch`), the branch goes.

    A fast-forward publishes the branch's own commit (with the summary `stage` gave it); a merge,
    when `main` moved on, commits anew with `summary`. Returns `main`'s snapshot id afterwards
    (None: the table has none, nothing was staged).
    """
    if staged.partitions:
        how = publish_branch(spark, staged.table, staged.branch, staged.touched, summary)
        log.info("%s: published %s (%s)", staged.table.short, staged.branch, how)
    drop_branch(spark, staged.table, staged.branch)
    return current_snapshot_id(spark, staged.table)


# --- maintenance ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Maintenance:
    """What `maintain` does, with the defaults `ecomflow maintain` uses."""

    min_input_files: int = 2  # compact a partition once it holds this many small files
    target_file_mb: int = 128
    keep_snapshots: int = 20  # of main's history (branches keep their own snapshots)
    snapshot_age_days: int = 5  # older snapshots beyond `keep_snapshots` are expired
    orphan_age_days: int = 3  # files no snapshot names, older than this, are deleted (younger ones
    # may belong to a commit in flight)


def maintain(spark: SparkSession, table: LakeTable, settings: Maintenance = Maintenance()) -> dict[str, int]:
    """Compact small files, expire old snapshots, delete orphan files; returns the procedures' counts.

    Compaction commits like any writer (a concurrent MERGE retries); expiry keeps every branch's
    snapshot, so an audit branch stays inspectable until it is dropped. Ages are counted on the
    JVM's clock, the one Iceberg stamps its commits and files with.
    """
    catalog = _quote(table.catalog)

    def stamp(days: int) -> str:  # a TIMESTAMP literal `days` before now, in the session's time zone
        (value,) = spark.sql(f"SELECT CAST(current_timestamp() - INTERVAL {int(days)} DAYS AS STRING)").collect()
        return f"TIMESTAMP '{value[0]}'"

    rewritten = spark.sql(
        f"CALL {catalog}.system.rewrite_data_files(table => '{table.short}', options => map("
        f"'min-input-files', '{int(settings.min_input_files)}', "
        f"'target-file-size-bytes', '{int(settings.target_file_mb) * 1024 * 1024}'))").collect()[0]
    expired = spark.sql(
        f"CALL {catalog}.system.expire_snapshots(table => '{table.short}', "
        f"older_than => {stamp(settings.snapshot_age_days)}, "
        f"retain_last => {int(settings.keep_snapshots)})").collect()[0]
    orphans = spark.sql(
        f"CALL {catalog}.system.remove_orphan_files(table => '{table.short}', "
        f"older_than => {stamp(settings.orphan_age_days)})").collect()
    counts = {
        "rewritten_data_files": int(rewritten["rewritten_data_files_count"]),
        "added_data_files": int(rewritten["added_data_files_count"]),
        "expired_snapshots_data_files": int(expired["deleted_data_files_count"]),
        "expired_manifest_lists": int(expired["deleted_manifest_lists_count"]),
        "orphan_files_deleted": len(orphans),
    }
    log.info("%s maintained: %s", table.short, counts)
    return counts


# --- history --------------------------------------------------------------------------------------

def history(spark: SparkSession, table: LakeTable, limit: int = 50) -> list[dict[str, Any]]:
    """The table's snapshots, newest first: time, id, operation, rows added/removed and our summary keys."""
    rows = spark.sql(
        f"SELECT committed_at, snapshot_id, parent_id, operation, summary FROM {table.ident}.snapshots "
        f"ORDER BY committed_at DESC LIMIT {int(limit)}").collect()
    return [{
        "committed_at": row["committed_at"], "snapshot_id": row["snapshot_id"], "parent_id": row["parent_id"],
        "operation": row["operation"],
        "added_records": int((row["summary"] or {}).get("added-records", 0)),
        "deleted_records": int((row["summary"] or {}).get("deleted-records", 0)),
        "total_records": int((row["summary"] or {}).get("total-records", 0)),
        # Our own keys (`merge_new_rows(summary=...)`): the run or micro-batch that made the commit.
        "ids": {k: v for k, v in (row["summary"] or {}).items() if k.startswith(SUMMARY_PREFIX)},
    } for row in rows]


def metadata_location(spark: SparkSession, table: LakeTable) -> str | None:
    """The metadata file of the table's current state (what a Glue Iceberg table's `metadata_location` names)."""
    rows = spark.sql(f"SELECT file FROM {table.ident}.metadata_log_entries "
                     "ORDER BY timestamp DESC LIMIT 1").collect()
    return str(rows[0][0]) if rows else None


def data_files(spark: SparkSession, table: LakeTable,
               touched: Sequence[Mapping[str, object]] | None = None) -> list[str]:
    """The data files of `main`'s committed snapshot, optionally of some partitions only.

    What a COPY or an outside reader reads: never a listing of the table's folder, which also holds
    the files of unpublished branches and of commits that failed.
    """
    # (Not of a branch: Iceberg 1.10's metadata tables fail with `VERSION AS OF` on these tables.)
    files = f"{table.ident}.files"
    # Filtered here: Iceberg 1.10 fails to push a filter on `partition` into the files table.
    wanted = None if touched is None else {partition_path(values, table.partitions) for values in touched}
    rows = spark.sql(f"SELECT file_path, partition FROM {files}").collect()
    return sorted(str(row["file_path"]) for row in rows
                  if wanted is None or partition_path(row["partition"].asDict(), table.partitions) in wanted)


def read_table(spark: SparkSession, table: LakeTable, branch: str | None = None,
               touched: Sequence[Mapping[str, object]] | None = None) -> DataFrame:
    """The committed rows of `table` (its `main`, or `branch`), optionally only of the `touched` partitions."""
    frame = spark.table(table.at(branch))
    if touched is not None:
        frame = frame.where(partition_filter(None, table.partitions, touched))
    return frame



# --- what one commit did --------------------------------------------------------------------------

@dataclass(frozen=True)
class Commit:
    """One snapshot of a table as its summary tells it: id, rows and data files it added."""

    snapshot_id: int
    added_records: int
    added_data_files: int
    summary: Mapping[str, str]


def commits_with(spark: SparkSession, table: LakeTable, summary: Mapping[str, str]) -> list[Commit]:
    """The table's snapshots whose summary holds every `key: value` of `summary`, oldest first.

    How a writer finds its own commit after a MERGE (by a token it put into the summary, see
    `merge_new_rows(summary=...)`): the table's current snapshot may already be another writer's.
    """
    condition = " AND ".join(f"summary[{_literal(key)}] = {_literal(str(value))}" for key, value in summary.items())
    rows = spark.sql(f"SELECT snapshot_id, summary FROM {table.ident}.snapshots "
                     f"WHERE {condition or 'true'} ORDER BY committed_at").collect()
    return [Commit(int(row["snapshot_id"]), int((row["summary"] or {}).get("added-records", 0)),
                   int((row["summary"] or {}).get("added-data-files", 0)), dict(row["summary"] or {}))
            for row in rows]


@dataclass(frozen=True)
class DataFile:
    """A data file of a table: where it is and its size (what a Redshift COPY manifest names)."""

    path: str
    size_bytes: int
    records: int


def added_data_files(spark: SparkSession, table: LakeTable, snapshot_id: int) -> list[DataFile]:
    """The data files snapshot `snapshot_id` added, read from that snapshot's own manifests only.

    Through Iceberg's Java API (`Snapshot.addedDataFiles`): its cost follows the commit, not the
    table. (The `entries` metadata table reads every manifest of the current snapshot, and
    `VERSION AS OF` on metadata tables fails in Iceberg 1.10 here.)
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    name = f"{table.catalog}.{table.database}.{table.name}"
    java_table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, name)
    snapshot = java_table.snapshot(int(snapshot_id))
    if snapshot is None:
        raise PublishError(f"{table.short} has no snapshot {snapshot_id} (expired?)")
    found = []
    iterator = snapshot.addedDataFiles(java_table.io()).iterator()
    while iterator.hasNext():
        file = iterator.next()
        found.append(DataFile(str(file.location()), int(file.fileSizeInBytes()), int(file.recordCount())))
    return sorted(found, key=lambda f: f.path)


def committed_files(spark: SparkSession, table: LakeTable,
                    touched: Sequence[Mapping[str, object]] | None = None) -> list[DataFile]:
    """The data files of `main`'s committed snapshot (of the `touched` partitions), with their sizes.

    What a COPY manifest lists. A data file is all of its rows only while no delete file applies
    to it: our MERGEs never delete, so a delete file here is someone else's and is refused rather
    than loaded past.

    Raises:
        PublishError: a touched partition has delete files.
    """
    wanted = None if touched is None else {partition_path(values, table.partitions) for values in touched}
    rows = spark.sql(f"SELECT content, file_path, file_size_in_bytes, record_count, partition "
                     f"FROM {table.ident}.files").collect()
    found, deletes = [], 0
    for row in rows:
        if wanted is not None and partition_path(row["partition"].asDict(), table.partitions) not in wanted:
            continue
        if int(row["content"]) != 0:
            deletes += 1
            continue
        found.append(DataFile(str(row["file_path"]), int(row["file_size_in_bytes"]), int(row["record_count"])))
    if deletes:
        raise PublishError(f"{table.short}: {deletes} delete files in the partitions to load; their data files "
                           "are not all rows: compact them first (`ecomflow maintain`)")
    return sorted(found, key=lambda f: f.path)
