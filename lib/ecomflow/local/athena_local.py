"""Athena, locally: the named Athena SQL queries run on DuckDB over the tables of the Glue catalog.

The queries are Athena (Trino) SQL files in `ecomflow/sql/athena/` (the same files become Athena
named queries on AWS). They name their tables `ecomflow.<table>`; this module reads the tables of a
Glue database (moto locally), creates a DuckDB schema of that name with one view per table (over
the table's parquet location, hive partitions, or for an Iceberg table the data files of its
current snapshot; columns cast to the catalog's types, like Athena's schema-on-read) and runs the
SQL after the few rewrites Trino-vs-DuckDB needs (`to_duckdb`).

Time travel reads an Iceberg table as Athena engine v3 does: `FROM ecomflow.sales FOR VERSION AS OF
<snapshot id>` reads that snapshot's committed files, `FOR TIMESTAMP AS OF TIMESTAMP '2011-12-09
12:00:00 UTC'` the snapshot `main` pointed at then (the last one committed at or before it). Each
such reference becomes a view of its own over that snapshot's files (`time_travel`).

    athena = LocalAthena.from_catalog(aws.client("glue"), "ecomflow")
    result = athena.query("monthly_revenue")    # QueryResult(columns, rows)
"""

from __future__ import annotations

import glob
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import duckdb

from ecomflow import contract
from ecomflow.errors import ConfigError, InputError
from ecomflow.local import iceberg

log = logging.getLogger(__name__)

DEFAULT_DATABASE = contract.LAKE_DATABASE  # the database name the SQL files are written against

# Glue/Hive type -> DuckDB type (decimal(p,s) passes through).
_DUCKDB_TYPES = {
    "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR", "int": "INTEGER", "integer": "INTEGER",
    "bigint": "BIGINT", "smallint": "SMALLINT", "tinyint": "TINYINT", "boolean": "BOOLEAN",
    "double": "DOUBLE", "float": "FLOAT", "date": "DATE", "timestamp": "TIMESTAMP", "binary": "BLOB",
}

# Trino functions whose DuckDB spelling differs (same arguments).
_FUNCTION_RENAMES = {
    "approx_distinct": "approx_count_distinct",
    "approx_percentile": "approx_quantile",
}


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as JSON-ready dicts: decimals as strings (exact), dates and timestamps in ISO form."""
        return [{name: _jsonable(value) for name, value in zip(self.columns, row, strict=True)} for row in self.rows]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def named_queries() -> dict[str, str]:
    """Every named query: file stem -> Athena SQL text."""
    folder = resources.files("ecomflow") / "sql" / "athena"
    return {entry.name[:-4]: entry.read_text(encoding="utf-8")
            for entry in sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".sql")}


def load_query(name: str) -> str:
    """The Athena SQL of the named query, or ConfigError listing the names there are."""
    queries = named_queries()
    try:
        return queries[name]
    except KeyError:
        raise ConfigError(f"no query named {name!r}; there are: {', '.join(queries)}") from None


def to_duckdb(sql: str, database: str = DEFAULT_DATABASE) -> str:
    """Rewrite Athena (Trino) SQL for DuckDB.

    The rewrites: a trailing `;` is dropped; `approx_distinct`/`approx_percentile` become
    `approx_count_distinct`/`approx_quantile`; `from_iso8601_timestamp(x)` becomes
    `CAST(x AS TIMESTAMP)`; and the `ecomflow.` qualifier becomes `<database>.` when the catalog
    database has another name. Integer division (`/` of two integers truncates in Trino) is a
    connection setting, not a rewrite (see `LocalAthena`).
    """
    out = sql.strip().rstrip(";").strip()
    out = re.sub(r"\bfrom_iso8601_timestamp\s*\(\s*([^()]*?)\s*\)", r"CAST(\1 AS TIMESTAMP)", out,
                 flags=re.IGNORECASE)
    for trino, duck in _FUNCTION_RENAMES.items():
        out = re.sub(rf"\b{trino}\s*\(", f"{duck}(", out, flags=re.IGNORECASE)
    if database != DEFAULT_DATABASE:
        out = re.sub(rf'\b{DEFAULT_DATABASE}\s*\.', f"{database}.", out)
    return out


def duckdb_type(glue_type: str) -> str:
    """The DuckDB type of a Glue/Hive column type."""
    name = glue_type.strip().lower()
    if name.startswith("decimal"):
        return name.upper()
    if name.startswith(("varchar", "char")):
        return "VARCHAR"
    try:
        return _DUCKDB_TYPES[name]
    except KeyError:
        raise ConfigError(f"no DuckDB type for the Glue type {glue_type!r}") from None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _local_path(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location


def is_iceberg(table: dict[str, Any]) -> bool:
    """Whether a Glue table (a GetTables entry) is an Iceberg table: `table_type` ICEBERG, as Glue writes it."""
    return str(table.get("Parameters", {}).get("table_type", "")).upper() == "ICEBERG"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [*table["StorageDescriptor"].get("Columns", []), *table.get("PartitionKeys", [])]


def files_view_sql(name: str, columns: list[dict[str, Any]], files: list[str]) -> str:
    """The DuckDB view `name` (quoted) over parquet `files`, typed as the Glue `columns`; no files: an empty view."""
    if not files:
        empty = ", ".join(f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {_ident(c['Name'])}" for c in columns)
        return f"CREATE OR REPLACE VIEW {name} AS SELECT {empty} WHERE false"
    select = ", ".join(f"CAST({_ident(c['Name'])} AS {duckdb_type(c['Type'])}) AS {_ident(c['Name'])}"
                       for c in columns)
    source = f"read_parquet([{', '.join(_literal(f) for f in files)}], union_by_name = true)"
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source}"


# `<table> FOR VERSION AS OF <snapshot id | 'ref'>` / `<table> FOR TIMESTAMP AS OF [TIMESTAMP] '<time>'`
# (and Athena's `FOR SYSTEM_VERSION` / `FOR SYSTEM_TIME` spellings of the same).
TIME_TRAVEL = re.compile(
    r"""(?P<ref>(?:(?P<schema>"[^"]+"|\w+)\s*\.\s*)?(?P<table>"[^"]+"|\w+))\s+FOR\s+"""
    r"""(?P<kind>SYSTEM_VERSION|VERSION|SYSTEM_TIME|TIMESTAMP)\s+AS\s+OF\s+"""
    r"""(?P<value>-?\d+|TIMESTAMP\s*'[^']*'|'[^']*')""", re.IGNORECASE)


@dataclass(frozen=True)
class TimeTravel:
    """One `FOR VERSION/TIMESTAMP AS OF` reference of a query: which table, and the snapshot's id, name or time."""

    start: int
    end: int
    schema: str | None
    table: str
    kind: str  # "version" or "timestamp"
    value: str  # a snapshot id, a branch or tag name, or a time as written (without TIMESTAMP)


def _unquote(name: str) -> str:
    """`"Sales"` -> `Sales`; an unquoted name folds to lower case, as Trino folds it."""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def time_travel_refs(sql: str) -> list[TimeTravel]:
    """The time-travel references in `sql`, in order."""
    found = []
    for match in TIME_TRAVEL.finditer(sql):
        kind = "version" if "VERSION" in match["kind"].upper() else "timestamp"
        value = re.sub(r"^TIMESTAMP\s*", "", match["value"], flags=re.IGNORECASE)
        if value.startswith("'"):
            value = value[1:-1]
        elif kind == "timestamp":
            raise InputError(f"FOR TIMESTAMP AS OF needs a time, e.g. TIMESTAMP '2011-12-09 12:00:00 UTC', "
                             f"not {match['value']}")
        found.append(TimeTravel(match.start(), match.end(), _unquote(match["schema"]) if match["schema"] else None,
                                _unquote(match["table"]), kind, value))
    return found


def view_sql(database: str, table: dict[str, Any]) -> str:
    """The DuckDB view of one Glue table (a GetTables entry), typed like the catalog.

    A parquet table is read from its location's hive partitions. An Iceberg table is read from
    the data files of the snapshot its `metadata_location` names (as Athena reads it), never from a
    listing of its folder, which also holds unpublished and failed writes.
    """
    descriptor = table["StorageDescriptor"]
    keys = table.get("PartitionKeys", [])
    columns = [*descriptor.get("Columns", []), *keys]
    select = ", ".join(f"CAST({_ident(c['Name'])} AS {duckdb_type(c['Type'])}) AS {_ident(c['Name'])}"
                       for c in columns)
    name = f"{_ident(database)}.{_ident(table['Name'])}"
    empty = ", ".join(f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {_ident(c['Name'])}" for c in columns)
    # Athena answers an empty table with no rows; read_parquet would fail on no files.
    empty_view = f"CREATE OR REPLACE VIEW {name} AS SELECT {empty} WHERE false"
    if is_iceberg(table):
        metadata = table["Parameters"].get("metadata_location")
        files = iceberg.committed_files(iceberg.static_table(metadata)) if metadata else []
        if not files:
            return empty_view
        source = f"read_parquet([{', '.join(_literal(f) for f in files)}], union_by_name = true)"
        return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source}"
    location = _local_path(descriptor["Location"].rstrip("/"))
    pattern = location + "/*" * len(keys) + "/*.parquet"
    if "://" not in location and not glob.glob(pattern):
        return empty_view
    source = (f"read_parquet({_literal(pattern)}, "
              f"hive_partitioning = {'true' if keys else 'false'}, union_by_name = true)")
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source}"


class LocalAthena:
    """A DuckDB connection with one view per catalog table, answering Athena SQL."""

    def __init__(self, database: str = DEFAULT_DATABASE,
                 connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.database = database
        self.connection = connection or duckdb.connect()
        # Trino's semantics where DuckDB's defaults differ: UTC wall-clock times, integer division.
        self.connection.execute("SET TimeZone = 'UTC'")
        self.connection.execute("SET integer_division = true")
        self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(database)}")
        self.tables: list[str] = []
        # Iceberg tables by name: their Glue entry and pyiceberg table, for time travel.
        self.iceberg_tables: dict[str, tuple[dict[str, Any], Any | None]] = {}

    @classmethod
    def from_catalog(cls, glue: Any, database: str = DEFAULT_DATABASE) -> LocalAthena:
        """Views for every table of the Glue `database`.

        Raises:
            InputError: the database does not exist in the catalog.
        """
        athena = cls(database)
        try:
            pages = glue.get_paginator("get_tables").paginate(DatabaseName=database)
            tables = [table for page in pages for table in page["TableList"]]
        except glue.exceptions.EntityNotFoundException:
            raise InputError(f"the Glue catalog has no database {database!r}: run the batch job with "
                             f"--catalog_database {database} first") from None
        for table in tables:
            athena.add_table(table)
        return athena

    def add_table(self, table: dict[str, Any], iceberg_table: Any = None) -> None:
        """Create (or replace) the view of one Glue table.

        Args:
            iceberg_table: for an Iceberg table, its pyiceberg table when the caller holds it (from a
                catalog); by default it is read from the entry's `metadata_location`.
        """
        if iceberg_table is None and is_iceberg(table):
            metadata = table["Parameters"].get("metadata_location")  # none yet: a table without a commit
            iceberg_table = iceberg.static_table(metadata) if metadata else None
        if iceberg_table is not None or is_iceberg(table):
            self.iceberg_tables[table["Name"]] = (table, iceberg_table)
            files = iceberg.committed_files(iceberg_table) if iceberg_table is not None else []
            view = files_view_sql(f"{_ident(self.database)}.{_ident(table['Name'])}", _columns(table), files)
        else:
            view = view_sql(self.database, table)
        self.connection.execute(view)
        if table["Name"] not in self.tables:
            self.tables.append(table["Name"])
        log.debug("view %s.%s over %s", self.database, table["Name"], table["StorageDescriptor"]["Location"])

    def sql(self, athena_sql: str) -> QueryResult:
        """Run Athena SQL (after `to_duckdb` and `time_travel`) and return all rows.

        Raises:
            InputError: the query failed, names an unknown table, or travels to a snapshot the table lacks.
        """
        try:
            cursor = self.connection.execute(self.time_travel(to_duckdb(athena_sql, self.database)))
        except duckdb.CatalogException as exc:
            raise InputError(self.unknown_table_message(exc)) from None
        except duckdb.Error as exc:
            raise InputError(f"query failed: {exc}") from None
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, [tuple(row) for row in cursor.fetchall()])

    def time_travel(self, sql: str) -> str:
        """`sql` with each `<table> FOR VERSION/TIMESTAMP AS OF ...` replaced by a view of that snapshot.

        The view (`"<database>"."<table>@<snapshot id>"`) reads the snapshot's committed files, as
        Athena reads an Iceberg table at a version: a snapshot id (or a branch or tag name), or for a
        time the snapshot `main` pointed at then (the last committed at or before it).

        Raises:
            InputError: the table is not an Iceberg table of this database, or has no such snapshot.
        """
        refs = time_travel_refs(sql)
        for ref in reversed(refs):  # from the end, so earlier offsets stay valid
            view = self._snapshot_view(ref)
            sql = sql[:ref.start] + view + sql[ref.end:]
        return sql

    def _snapshot_view(self, ref: TimeTravel) -> str:
        qualified = f"{ref.schema}.{ref.table}" if ref.schema else ref.table
        if ref.schema not in (None, self.database, DEFAULT_DATABASE) or ref.table not in self.iceberg_tables:
            known = ", ".join(f"{self.database}.{n}" for n in sorted(self.iceberg_tables)) or "none"
            raise InputError(f"{qualified} is not an Iceberg table here, so it has no versions "
                             f"(the Iceberg tables are: {known})")
        entry, table = self.iceberg_tables[ref.table]
        name = f"{self.database}.{ref.table}"
        if table is None:
            raise InputError(f"{name} has no snapshots yet, so none {ref.value}")
        if ref.kind == "version":
            snapshot = (table.snapshot_by_id(int(ref.value)) if re.fullmatch(r"-?\d+", ref.value)
                        else table.snapshot_by_name(ref.value))
            if snapshot is None:
                raise InputError(f"{name} has no snapshot {ref.value} (`ecomflow history` lists them)")
        else:
            try:
                (millis,) = self.connection.execute("SELECT epoch_ms(CAST(? AS TIMESTAMPTZ))",
                                                    [ref.value]).fetchone() or (None,)
            except duckdb.Error:
                raise InputError(f"FOR TIMESTAMP AS OF: not a time: {ref.value!r} "
                                 "(e.g. TIMESTAMP '2011-12-09 12:00:00 UTC')") from None
            snapshot = table.snapshot_as_of_timestamp(int(millis))
            if snapshot is None:
                raise InputError(f"{name} has no snapshot committed at or before {ref.value} "
                                 "(`ecomflow history` lists them)")
        view = f"{_ident(self.database)}.{_ident(f'{ref.table}@{snapshot.snapshot_id}')}"
        self.connection.execute(files_view_sql(view, _columns(entry),
                                               iceberg.committed_files(table, snapshot.snapshot_id)))
        log.debug("%s at snapshot %s: view %s", name, snapshot.snapshot_id, view)
        return view

    def unknown_table_message(self, exc: duckdb.Error) -> str:
        """DuckDB's catalog error with the tables there are, not its guess among its own (`pg_enum`)."""
        first = str(exc).splitlines()[0].removeprefix("Catalog Error: ").rstrip("!")
        match = re.match(r"Table with name (.+) does not exist", first)
        what = f"no table {match.group(1)}" if match else first
        tables = ", ".join(f"{self.database}.{name}" for name in sorted(self.tables)) or "none"
        return f"query failed: {what}; the tables are: {tables}"

    def query(self, name: str) -> QueryResult:
        """Run the named query `sql/athena/<name>.sql`."""
        return self.sql(load_query(name))
