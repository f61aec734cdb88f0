"""The lake's user commands on its Iceberg tables: history, audit branches, maintenance.

`ecomflow history`, `ecomflow branches` and `ecomflow maintain` (ecomflow.cli.lake) are thin
wrappers of these. They read and change tables that exist; none creates a table (a lake that has
none yet is an input error naming `ecomflow batch` and `ecomflow migrate`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ecomflow import contract, runtime
from ecomflow.errors import InputError
from ecomflow.stores import iceberg

log = logging.getLogger(__name__)

# Snapshot summary keys our writers may set (a batch run's id, a stream micro-batch's id).
RUN_ID_KEY = "ecomflow.run-id"
BATCH_ID_KEY = "ecomflow.batch-id"
TABLE_NAMES = (contract.CURATED_TABLE, contract.QUARANTINE_TABLE)


def lake_location(lake: str | os.PathLike[str]) -> str:
    """The lake's location: a URI as it is, a local folder as its absolute path.

    Raises:
        InputError: a local folder that does not exist.
    """
    text = os.fspath(lake).rstrip("/")
    if not text:
        raise InputError("--lake is empty: pass the lake folder or s3://bucket/prefix")
    if "://" in text and not text.startswith("file://"):
        return text
    path = Path(text.removeprefix("file://")).expanduser().resolve()
    if not path.is_dir():
        raise InputError(f"no lake at {path} (no such folder)")
    return str(path)


def existing_tables(spark: SparkSession, lake_uri: str,
                    database: str = contract.LAKE_DATABASE) -> dict[str, iceberg.LakeTable]:
    """The lake's Iceberg tables by name, as the session's lake catalog holds them; none is created.

    Raises:
        InputError: the catalog holds neither table (a lake not yet written, or still plain parquet).
    """
    tables = iceberg.lake_tables(runtime.lake_catalog(spark, lake_uri), database, lake_uri)
    found = {t.name: t for t in tables if spark.catalog.tableExists(f"{t.catalog}.{t.database}.{t.name}")}
    if not found:
        raise InputError(f"the lake at {lake_uri} has no Iceberg tables yet: write it with `ecomflow batch`, or "
                         f"bring a plain-parquet lake in with `ecomflow migrate --lake {lake_uri}`")
    return found


def table_of(tables: dict[str, iceberg.LakeTable], name: str, lake_uri: str) -> iceberg.LakeTable:
    """`tables[name]`, or InputError saying the lake has no such table (yet)."""
    if name not in tables:
        raise InputError(f"the lake at {lake_uri} has no table {name} (it has: {', '.join(sorted(tables))})")
    return tables[name]


def utc(value: Any) -> Any:
    """A time PySpark collected (naive, in this process's local time) as an aware UTC datetime; others as they are."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return value


# --- history --------------------------------------------------------------------------------------

def table_history(spark: SparkSession, table: iceberg.LakeTable, limit: int = 50) -> list[dict[str, Any]]:
    """The table's snapshots, newest first (`iceberg.history`), with our summary keys and whether `main` holds it.

    Each entry adds `run_id` / `batch_id` (None unless the snapshot's summary carries
    `ecomflow.run-id` / `ecomflow.batch-id`) and `on_main` (False for a snapshot only an audit branch,
    or nothing any more, holds).
    """
    if limit < 1:
        raise InputError(f"--limit must be at least 1, not {limit}")
    entries = iceberg.history(spark, table, limit)
    ids = ", ".join(str(int(e["snapshot_id"])) for e in entries) or "NULL"
    summaries = {int(r["snapshot_id"]): dict(r["summary"] or {}) for r in spark.sql(
        f"SELECT snapshot_id, summary FROM {table.ident}.snapshots WHERE snapshot_id IN ({ids})").collect()}
    on_main = {int(r["snapshot_id"]) for r in spark.sql(
        f"SELECT snapshot_id FROM {table.ident}.history WHERE is_current_ancestor").collect()}
    out = []
    for entry in entries:
        summary = summaries.get(int(entry["snapshot_id"]), {})
        out.append({**entry, "committed_at": utc(entry["committed_at"]),
                    "run_id": summary.get(RUN_ID_KEY), "batch_id": summary.get(BATCH_ID_KEY),
                    "on_main": int(entry["snapshot_id"]) in on_main})
    return out


# --- audit branches -------------------------------------------------------------------------------

def list_branches(spark: SparkSession, tables: dict[str, iceberg.LakeTable]) -> list[dict[str, Any]]:
    """Every branch but `main` of the lake's tables: table, name, snapshot id, commit time; by table and name."""
    return [{"table": name, **branch, "committed_at": utc(branch["committed_at"])}
            for name, table in sorted(tables.items()) for branch in iceberg.branches(spark, table)]


def branches_older_than(spark: SparkSession, tables: dict[str, iceberg.LakeTable], days: int) -> list[dict[str, Any]]:
    """The audit branches (`audit_*`) whose snapshot was committed more than `days` days ago, on the JVM's clock.

    The JVM's clock is the one Iceberg stamped the commits with (as `iceberg.maintain` counts ages).
    """
    if days < 0:
        raise InputError(f"--drop-older-than must be 0 or more days, not {days}")
    (cutoff,) = spark.sql(f"SELECT current_timestamp() - INTERVAL {int(days)} DAYS").collect()[0]
    cutoff = utc(cutoff)
    return [b for b in list_branches(spark, tables)
            if b["name"].startswith(iceberg.BRANCH_PREFIX) and b["committed_at"] is not None
            and b["committed_at"] < cutoff]


@dataclass(frozen=True)
class DroppedBranch:
    """One branch `drop_branches` dropped."""

    table: str
    name: str
    snapshot_id: int | None


def drop_branches(spark: SparkSession, tables: dict[str, iceberg.LakeTable],
                  names: Sequence[str]) -> list[DroppedBranch]:
    """Drop the named branches from every table that has them (their snapshots go at the next expiry).

    Raises:
        InputError: a name is `main`, or no table has a branch of that name (nothing is dropped then).
    """
    present = list_branches(spark, tables)
    unknown = [n for n in names if n == "main" or not any(b["name"] == n for b in present)]
    if unknown:
        there = ", ".join(sorted({b["name"] for b in present})) or "none"
        what = "main cannot be dropped" if unknown == ["main"] else f"no branch {', '.join(unknown)}"
        raise InputError(f"{what} (the branches are: {there})")
    dropped = []
    for branch in present:
        if branch["name"] in names:
            iceberg.drop_branch(spark, tables[branch["table"]], branch["name"])
            dropped.append(DroppedBranch(branch["table"], branch["name"], branch["snapshot_id"]))
    return dropped


# --- maintenance ----------------------------------------------------------------------------------

def maintain_lake(spark: SparkSession, tables: dict[str, iceberg.LakeTable],
                  settings: iceberg.Maintenance | None = None) -> dict[str, dict[str, int]]:
    """`iceberg.maintain` on each of the lake's tables; the procedures' counts by table.

    Raises:
        InputError: a setting out of range (negative ages, fewer than one snapshot to keep, ...).
    """
    settings = settings or iceberg.Maintenance()
    check_maintenance(settings)
    return {name: iceberg.maintain(spark, table, settings) for name, table in sorted(tables.items())}


def check_maintenance(settings: iceberg.Maintenance) -> None:
    """InputError for a setting `maintain` must not run with."""
    problems = []
    if settings.min_input_files < 1:
        problems.append(f"--min-input-files must be at least 1, not {settings.min_input_files}")
    if settings.target_file_mb < 1:
        problems.append(f"--target-file-mb must be at least 1, not {settings.target_file_mb}")
    if settings.keep_snapshots < 1:
        problems.append(f"--keep-snapshots must be at least 1, not {settings.keep_snapshots}")
    if settings.snapshot_age_days < 0:
        problems.append(f"--snapshot-age-days must be 0 or more, not {settings.snapshot_age_days}")
    if settings.orphan_age_days < 1:
        # Younger files may belong to a commit in flight.
        problems.append(f"--orphan-age-days must be at least 1 (younger files may belong to a commit in "
                        f"flight), not {settings.orphan_age_days}")
    if problems:
        raise InputError("; ".join(problems))
