"""Which raw input objects the batch job has processed: a ledger in the lake, an entry per object with its hash.

With `--incremental on` (the Glue job's setting) a run reads only the objects of its input that the
ledger does not hold with the same content, and records them once every sink has succeeded (beside
`runtime.commit()`), so a failed or gated run records nothing and its objects stay pending. An object
is taken as processed when the ledger has its URI with the same size and modification time, or,
where those changed (a re-upload), the same SHA-256 of its bytes; a changed object is read again
(its lines merge by `record_id`, so what it shares with the earlier version is not added twice).
This replaces Glue's job bookmarks, which only a DynamicFrame source honours (the batch reader is
Spark's text source, for byte-exact lines) and which only work in Glue.

The ledger is `<lake>/_ledger/inputs/<run_id>/`: each run writes its own JSON entries, so concurrent
runs never write the same file, a run recorded twice overwrites its own entries, and the ledger is
read as one table (the newest entry of an object wins).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from ecomflow.stores.files import HadoopFs

log = logging.getLogger(__name__)

LEDGER_SCHEMA = T.StructType([
    T.StructField("uri", T.StringType(), False),
    T.StructField("size", T.LongType(), False),
    T.StructField("modified", T.TimestampType(), False),
    T.StructField("sha256", T.StringType(), False),
    T.StructField("run_id", T.StringType(), False),
])


@dataclass(frozen=True)
class InputObject:
    """One raw input object as the ledger knows it."""

    uri: str
    size: int
    modified: object  # a datetime from Spark (the file system's modification time)
    sha256: str


@dataclass(frozen=True)
class Pending:
    """What a run has to read (with their hashes, to record afterwards) and how many objects it skips."""

    objects: tuple[InputObject, ...]
    skipped: int

    @property
    def uris(self) -> list[str]:
        return [o.uri for o in self.objects]


def _status(spark: SparkSession, files: Sequence[str]) -> dict[str, tuple[int, object]]:
    """Size and modification time of each file (a listing: binaryFile without its content column)."""
    rows = spark.read.format("binaryFile").load(list(files)).select("path", "length", "modificationTime").collect()
    return {r["path"]: (int(r["length"]), r["modificationTime"]) for r in rows}


def _hashes(spark: SparkSession, files: Sequence[str]) -> dict[str, str]:
    """SHA-256 of each file's bytes, on the executors (binaryFile holds a file in one row: < 2 GB)."""
    if not files:
        return {}
    rows = spark.read.format("binaryFile").load(list(files)).select("path", F.sha2("content", 256).alias("h")).collect()
    return {r["path"]: r["h"] for r in rows}


def recorded(spark: SparkSession, ledger_uri: str) -> dict[str, InputObject]:
    """The newest ledger entry of each object."""
    if not HadoopFs(spark).list_dirs(ledger_uri, 1):
        return {}
    entries = spark.read.schema(LEDGER_SCHEMA).json(f"{ledger_uri}/*/")
    newest = Window.partitionBy("uri").orderBy(F.col("run_id").desc())
    rows = entries.withColumn("_n", F.row_number().over(newest)).where("_n = 1").collect()
    return {r["uri"]: InputObject(r["uri"], int(r["size"]), r["modified"], r["sha256"]) for r in rows}


def pending(spark: SparkSession, ledger_uri: str, files: Sequence[str]) -> Pending:
    """The objects among `files` that the ledger does not hold with the same content."""
    if not files:
        return Pending((), 0)
    status = _status(spark, files)
    known = recorded(spark, ledger_uri)
    unchanged = {uri for uri, (size, modified) in status.items()
                 if uri in known and (known[uri].size, known[uri].modified) == (size, modified)}
    candidates = sorted(set(status) - unchanged)
    hashes = _hashes(spark, candidates)
    todo = tuple(InputObject(uri, status[uri][0], status[uri][1], hashes[uri]) for uri in candidates
                 if uri not in known or known[uri].sha256 != hashes[uri])
    log.info("input ledger: %d of %d objects to read (%d unchanged, %d re-uploaded with the same bytes)",
             len(todo), len(status), len(unchanged), len(candidates) - len(todo))
    return Pending(todo, len(status) - len(todo))


def record(spark: SparkSession, ledger_uri: str, objects: Sequence[InputObject], run_id: str) -> None:
    """Write the run's processed objects into the ledger (idempotent for the same run)."""
    if not objects:
        return
    rows = [(o.uri, o.size, o.modified, o.sha256, run_id) for o in objects]
    spark.createDataFrame(rows, LEDGER_SCHEMA).coalesce(1).write.mode("overwrite").json(f"{ledger_uri}/{run_id}")
    log.info("input ledger: recorded %d objects for run %s", len(objects), run_id)
