"""Bring a plain-parquet lake into the Iceberg tables at the same locations (`ecomflow migrate`).

Before issue 15 the lake was hive folders of parquet files: `<lake>/curated/sales/year=*/month=*/`
and `<lake>/quarantine/sales/reason=*/`, with no `metadata/` folder. The Iceberg tables live at
those same locations, so the migration

1. moves each old folder aside, to `<lake>/_migrated/<timestamp>/curated/sales` (and
   `.../quarantine/sales`): one rename each; the table locations are then free;
2. reads every moved-aside folder not yet marked done and MERGEs its rows into the table
   (`iceberg.merge_new_rows`: only the keys the table lacks are added), then marks it done
   (`<lake>/_migrated/<timestamp>/_DONE`).

Run twice, the second run finds nothing to move and nothing pending: the same rows. A crash
between the steps (or during the MERGE) is resumed by running it again: the moved-aside folder is
the source, and a MERGE replayed adds nothing. The moved-aside folders are kept (delete them once
the tables are checked). Files go through Hadoop's FileSystem, so a local folder and `s3://` alike.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomflow import contract
from ecomflow.errors import InputError
from ecomflow.stores import iceberg

log = logging.getLogger(__name__)

MIGRATED_ZONE = "_migrated"
DONE_MARKER = "_DONE"
ZONES = {contract.CURATED_TABLE: contract.CURATED_ZONE, contract.QUARANTINE_TABLE: contract.QUARANTINE_ZONE}


@dataclass
class TableMigration:
    """What the migration did to one table."""

    table: str
    sources: list[str] = field(default_factory=list)  # the moved-aside folders it read
    rows_read: int = 0
    duplicates: int = 0  # rows of the old lake whose key (in its partition) another row already had
    rows_before: int = 0
    rows_after: int = 0

    @property
    def rows_added(self) -> int:
        return self.rows_after - self.rows_before


@dataclass
class Migration:
    """The result of `migrate_lake`: the folders moved aside by this run, and each table's counts."""

    lake: str
    moved: list[str] = field(default_factory=list)  # "<from> -> <to>"
    tables: list[TableMigration] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"lake": self.lake, "moved": self.moved,
                "tables": [{**asdict(t), "rows_added": t.rows_added} for t in self.tables]}


class _Files:
    """The few Hadoop FileSystem calls the migration needs (the session's configuration, so s3 works too)."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)  # type: ignore[union-attr]

    def _fs(self, uri: str) -> Any:
        return self._path(uri).getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def children(self, uri: str) -> list[str]:
        if not self.exists(uri):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs(uri).listStatus(self._path(uri)))

    def has_parquet(self, uri: str) -> bool:
        found = self._fs(uri).listFiles(self._path(uri), True)
        while found.hasNext():
            name = str(found.next().getPath().getName())
            if name.endswith(".parquet") and not name.startswith(("_", ".")):
                return True
        return False

    def rename(self, source: str, target: str) -> None:
        fs = self._fs(source)
        fs.mkdirs(self._path(target).getParent())
        if not fs.rename(self._path(source), self._path(target)):
            raise OSError(f"could not move {source} to {target}")

    def write(self, uri: str, text: str) -> None:
        out = self._fs(uri).create(self._path(uri), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()


def is_plain_parquet(files: _Files, location: str) -> bool:
    """Whether `location` holds an old plain-parquet table: parquet files below it and no `metadata/` folder."""
    return files.exists(location) and "metadata" not in files.children(location) and files.has_parquet(location)


def stamp(now: datetime | None = None) -> str:
    """The name of one run's moved-aside folder: `20261203T134500123456Z` (UTC, sorts in time)."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def move_aside(spark: SparkSession, lake_uri: str, now: datetime | None = None) -> list[str]:
    """Step 1: move each old plain-parquet table folder to `<lake>/_migrated/<stamp>/<zone>`; what was moved."""
    files = _Files(spark)
    target_root = f"{lake_uri}/{MIGRATED_ZONE}/{stamp(now)}"
    moved = []
    for zone in ZONES.values():
        source = contract.zone_uri(lake_uri, zone)
        if is_plain_parquet(files, source):
            target = f"{target_root}/{zone}"
            files.rename(source, target)
            log.info("moved the plain-parquet table %s aside to %s", source, target)
            moved.append(f"{source} -> {target}")
    return moved


def pending(spark: SparkSession, lake_uri: str) -> list[str]:
    """The moved-aside folders (`<lake>/_migrated/<stamp>`) whose rows are not yet merged, oldest first."""
    files = _Files(spark)
    root = f"{lake_uri}/{MIGRATED_ZONE}"
    return [f"{root}/{name}" for name in files.children(root)
            if not name.startswith((".", "_")) and not files.exists(f"{root}/{name}/{DONE_MARKER}")]


def read_old_table(spark: SparkSession, table: iceberg.LakeTable, folder: str) -> DataFrame:
    """The rows of an old hive-partitioned parquet folder, typed and ordered as `table`'s schema."""
    frame = spark.read.option("basePath", folder).parquet(folder)
    missing = [f.name for f in table.schema.fields if f.name not in frame.columns]
    if missing:
        raise InputError(f"{folder} is not the old {table.name} table: it has no column {', '.join(missing)}")
    return frame.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in table.schema.fields])


def merge_pending(spark: SparkSession, lake_uri: str, tables: dict[str, iceberg.LakeTable],
                  migration: Migration) -> None:
    """Step 2: merge every pending moved-aside folder into the tables, then mark it done."""
    files = _Files(spark)
    counts = {name: TableMigration(name) for name in tables}
    for name, table in tables.items():
        counts[name].rows_before = spark.table(table.ident).count()
    for root in pending(spark, lake_uri):
        for name, zone in ZONES.items():
            folder = f"{root}/{zone}"
            if not files.exists(folder) or not files.has_parquet(folder):
                continue
            table = tables[name]
            rows = read_old_table(spark, table, folder).cache()  # counted, de-duplicated, merged: read once
            try:
                read = rows.count()
                unique = rows.dropDuplicates([table.key, *table.partitions])
                kept = unique.count()
                iceberg.merge_new_rows(spark, table, unique)
            finally:
                rows.unpersist()
            counts[name].sources.append(folder)
            counts[name].rows_read += read
            counts[name].duplicates += read - kept
            log.info("merged %d rows of %s into %s", kept, folder, table.short)
        files.write(f"{root}/{DONE_MARKER}", json.dumps({"merged_at": datetime.now(UTC).isoformat()}) + "\n")
    for name, table in tables.items():
        counts[name].rows_after = spark.table(table.ident).count()
    migration.tables = [counts[name] for name in sorted(counts)]


def migrate_lake(spark: SparkSession, lake_uri: str, database: str = contract.LAKE_DATABASE,
                 now: datetime | None = None) -> Migration:
    """Move the old plain-parquet folders aside, create the Iceberg tables there, merge the old rows in.

    Idempotent and resumable (module doc). A lake already on Iceberg with nothing pending is left
    as it is (its counts are reported).

    Raises:
        InputError: no lake there: neither table folder exists and nothing is pending in `_migrated/`.
    """
    files = _Files(spark)
    if not any(files.exists(contract.zone_uri(lake_uri, zone)) for zone in ZONES.values()) and not pending(
            spark, lake_uri):
        raise InputError(f"no lake to migrate at {lake_uri}: no {contract.CURATED_ZONE} or "
                         f"{contract.QUARANTINE_ZONE} folder, and nothing pending in {MIGRATED_ZONE}/")
    migration = Migration(lake_uri, moved=move_aside(spark, lake_uri, now))
    sales, quarantine = iceberg.open_tables(spark, lake_uri, database)
    merge_pending(spark, lake_uri, {sales.name: sales, quarantine.name: quarantine}, migration)
    return migration
