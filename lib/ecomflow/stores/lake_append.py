"""Idempotent micro-batch appends to the parquet lake (the streaming job's lake sink).

The batch job's `lake.stage_merge` + `publish_partitions` rewrites every partition a run touches;
for a micro-batch of a few hundred lines every few seconds that is far too much I/O. This sink
writes only the batch's NEW rows, as extra files in the partition folders, and stays idempotent:

1. Anti-join. Read just the key column (`record_id`, or `quarantine_id`) of the partitions the
   batch touches (parquet column pruning keeps this cheap) and drop the batch rows whose key is
   already there. A replayed batch therefore finds the rows it wrote before it crashed and does
   not write them again; a line POSTed twice in two batches is written once.
2. Stage. Write the remaining rows to a staging folder outside the table
   (`<lake>/_runs/stream/<tag>/<table>`), hash-partitioned by the partition columns so each
   partition gets exactly one file.
3. Content-addressed names. Each staged file is moved into its partition folder as
   `stream-<sha256 of the sorted keys it holds>.parquet`. The name is a function of the rows, not
   of the batch id or a clock: re-running the same rows gives the same name (the move replaces the
   file with an identical one), and a batch replayed with more records than the first attempt
   writes only the rows still missing, under a different name. Nothing depends on Glue batch ids
   staying stable across checkpoint resets, and no file of an earlier batch is ever deleted.

A crash at any step leaves at worst a stale staging folder (ignored by readers, replaced next
time) or some partitions moved and others not; the replay's anti-join sees exactly the rows that
arrived and writes the rest. Renames are atomic on HDFS and local disks; on S3 a Hadoop rename is
copy-then-delete, where a crash between the two leaves only the staged copy behind.

Assumes one writer per table at a time (one streaming job). The batch job's partition swap and
this sink must not write the same partition concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.stores.lake import HadoopFs, partition_path, read_parquet_partitions

log = logging.getLogger(__name__)

FILE_PREFIX = "stream-"


@dataclass(frozen=True)
class AppendResult:
    """What one append did: partitions the batch touched, partitions that got a file, rows written."""

    touched: tuple[str, ...]
    written: tuple[str, ...]
    rows: int


def _list_files(spark: SparkSession, uri: str) -> list[str]:
    """Names of the data files directly in `uri` (hidden and `_` files skipped)."""
    jvm: Any = spark.sparkContext._jvm  # py4j: untyped
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return []
    names = [s.getPath().getName() for s in fs.listStatus(path) if s.isFile()]
    return sorted(n for n in names if not n.startswith(("_", ".")))


def touched_partitions(rows: DataFrame, partitions: Sequence[str]) -> tuple[str, ...]:
    """The partitions `rows` falls in (a Spark job), as relative paths."""
    found = rows.select(*partitions).distinct().collect()
    return tuple(sorted(partition_path(r.asDict(), partitions) for r in found))


def new_rows(spark: SparkSession, rows: DataFrame, table_uri: str, key: str, partitions: Sequence[str],
             schema: T.StructType, touched: Sequence[str] | None = None) -> tuple[DataFrame, tuple[str, ...]]:
    """The rows of `rows` whose `key` is not yet in the table, and the partitions `rows` touches.

    `touched`, where the caller already knows it, saves the Spark job that finds it.
    """
    touched = touched_partitions(rows, partitions) if touched is None else tuple(touched)
    fs = HadoopFs(spark)
    existing = [p for p in touched if fs.exists(f"{table_uri}/{p}")]
    if not existing:
        return rows, touched
    published_keys = read_parquet_partitions(spark, table_uri, existing, schema).select(key)
    return rows.join(published_keys, on=key, how="left_anti"), touched


def append_new_rows(spark: SparkSession, rows: DataFrame, table_uri: str, staging_uri: str, key: str,
                    partitions: Sequence[str], schema: T.StructType,
                    touched: Sequence[str] | None = None) -> AppendResult:
    """Append the rows of `rows` that the table does not hold yet; safe to repeat (see the module doc).

    `rows` must have one row per `key` (the streaming pipeline deduplicates before this). `touched`
    names the partitions `rows` falls in, where the caller knows them (no rows: nothing is done).
    """
    fresh, touched = new_rows(spark, rows.select(*schema.fieldNames()), table_uri, key, partitions, schema,
                              touched)
    fs = HadoopFs(spark)
    fs.delete(staging_uri)
    if not touched:
        return AppendResult((), (), 0)
    # Staged once, so the hash and the files are computed from the same rows.
    fresh.repartition(*partitions).write.mode("overwrite").partitionBy(*partitions).parquet(staging_uri)
    staged = spark.read.schema(schema).option("basePath", staging_uri).parquet(staging_uri) \
        if fs.list_dirs(staging_uri, 1) else None
    if staged is None:
        fs.delete(staging_uri)
        log.info("lake append: nothing new for %s (%d partitions touched)", table_uri, len(touched))
        return AppendResult(touched, (), 0)
    digests = (
        staged.groupBy(*partitions)
        .agg(F.sha2(F.concat_ws(",", F.sort_array(F.collect_list(key))), 256).alias("digest"),
             F.count(F.lit(1)).alias("rows"))
        .collect()
    )
    written = []
    total = 0
    for row in sorted(digests, key=lambda r: partition_path(r.asDict(), partitions)):
        rel = partition_path(row.asDict(), partitions)
        files = _list_files(spark, f"{staging_uri}/{rel}")
        if len(files) != 1:  # repartition by the partition columns puts a partition in one task
            raise RuntimeError(f"expected one staged file in {staging_uri}/{rel}, found {files}")
        target = f"{table_uri}/{rel}/{FILE_PREFIX}{row['digest'][:40]}.parquet"
        fs.delete(target)  # the same rows staged again: replace the identical file
        fs.move(f"{staging_uri}/{rel}/{files[0]}", target)
        written.append(rel)
        total += int(row["rows"])
    fs.delete(staging_uri)
    log.info("lake append: %d new rows in %d partitions of %s", total, len(written), table_uri)
    return AppendResult(touched, tuple(written), total)
