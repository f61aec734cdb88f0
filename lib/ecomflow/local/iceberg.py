"""Apache Iceberg on a laptop: the runtime jars in the local session, and each lake's catalog on the local PostgreSQL.

AWS Glue 5.1 brings Iceberg (`--datalake-formats iceberg`) and the Glue Data Catalog; here the jars
are the ones `make iceberg-jars` builds (docs/iceberg-local.md) and the catalog is Iceberg's JDBC
catalog in the local stack's PostgreSQL (docs/decisions.md: SQLite's file locks failed concurrent
commits, PostgreSQL's row locks serialise them).

One PostgreSQL database holds the catalogs of every local lake. Iceberg's JDBC catalog keys its
rows by the Spark catalog's name, so each lake gets a catalog named after its location
(`lake_<12 hex digits>`): `/tmp/lake` and `.state/demo/lake` both hold an `ecomflow.sales`, and
one Spark session (the test run's) can use several lakes. The warehouse is the lake itself, and the
tables' locations are the lake's zones (`<lake>/curated/sales`, ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecomflow import contract
from ecomflow.errors import EnvironmentMissingError, InputError, LocalStackError
from ecomflow.local.localstack import PostgresEndpoint, load_endpoints, up

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ICEBERG_VERSION = "1.10.2"
RUNTIME_JAR = f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
SHADED_JAR = "iceberg-jackson-shaded-2.15.2.jar"
EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
log = logging.getLogger(__name__)
BUILD_HINT = "run `make iceberg-jars` (python scripts/build_iceberg_jars.py; docs/iceberg-local.md)"


def jar_dir() -> Path:
    """Where `make iceberg-jars` puts the jars (`ECOMFLOW_CACHE`, default `~/.cache/ecomflow`)."""
    base = os.environ.get("ECOMFLOW_CACHE") or str(Path.home() / ".cache" / "ecomflow")
    return Path(base).expanduser() / "iceberg" / ICEBERG_VERSION


def jars() -> list[str]:
    """The two jars of a complete build, or [] when there is none (its manifest names both).

    The hashes are the build script's business (`--check`); a session start only looks for the files.
    """
    folder = jar_dir()
    try:
        recorded = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["jars"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    found = [folder / name for name in (RUNTIME_JAR, SHADED_JAR)]
    return [str(p) for p in found if p.name in recorded and p.is_file()] if all(p.is_file() for p in found) else []


def session_settings() -> dict[str, str]:
    """What a local session needs at its start for Iceberg: the jars' extensions (a static setting)."""
    return {"spark.sql.extensions": EXTENSIONS} if jars() else {}


def catalog_name(lake_uri: str) -> str:
    """The Spark (and JDBC catalog) name of the lake at `lake_uri`: `lake_<12 hex of its normalised URI>`."""
    return "lake_" + hashlib.sha256(normalise(lake_uri).encode("utf-8")).hexdigest()[:12]


def normalise(lake_uri: str) -> str:
    """`/tmp/lake/`, `file:/tmp/lake` and `file:///tmp/lake` are one lake: `file:///tmp/lake`."""
    text = lake_uri.rstrip("/")
    if "://" in text and not text.startswith("file://"):
        return text
    if text.startswith("file:"):
        text = text[len("file:"):].lstrip("/")
        text = "/" + text
    return Path(text).expanduser().resolve().as_uri()


def catalog_settings(lake_uri: str, postgres: PostgresEndpoint) -> dict[str, str]:
    """The `spark.sql.catalog.<name>.*` settings of the lake's JDBC catalog on `postgres`."""
    prefix = f"spark.sql.catalog.{catalog_name(lake_uri)}"
    return {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": postgres.jdbc_url,
        f"{prefix}.jdbc.user": postgres.user,
        f"{prefix}.jdbc.password": postgres.password,
        f"{prefix}.warehouse": normalise(lake_uri),
        # Iceberg's JDBC catalog V1 schema (adds iceberg_type; V0 cannot hold views).
        f"{prefix}.jdbc.schema-version": "V1",
        # Our MERGEs retry a conflicting commit themselves (ecomflow.stores.iceberg); a table load
        # sees the committed state at once.
        f"{prefix}.cache-enabled": "false",
    }


AUTOSTART_ENV = "ECOMFLOW_LOCAL_AUTOSTART"  # "off": never start the local stack for a lake (the tests)


def running_postgres() -> PostgresEndpoint:
    """The local stack's PostgreSQL, which holds the lakes' catalogs; started (`ecomflow local up`) if it is not.

    A lake on a laptop needs its catalog, so `ecomflow batch --lake DIR` on a fresh machine starts
    the local stack rather than failing; it keeps running for the readers (`ecomflow local down`
    stops it). With ECOMFLOW_LOCAL_AUTOSTART=off it is never started.

    Raises:
        EnvironmentMissingError: no local stack running and none may or can be started.
    """
    try:
        return load_endpoints().postgres
    except LocalStackError as exc:
        if os.environ.get(AUTOSTART_ENV, "on").lower() in ("off", "0", "false", "no"):
            raise EnvironmentMissingError(f"the lake's Iceberg catalog lives in the local PostgreSQL: {exc}") from None
    log.warning("starting the local stack for the lake's Iceberg catalog (PostgreSQL; `ecomflow local down` "
                "stops it)")
    return up().postgres


def register_catalog(spark: SparkSession, lake_uri: str, postgres: PostgresEndpoint | None = None) -> str:
    """Register the lake's catalog in `spark` (a runtime setting: no new session); returns its name.

    Args:
        postgres: the PostgreSQL holding the catalog; by default the running local stack's.

    Raises:
        EnvironmentMissingError: no Iceberg jars in the session, or no local stack running.
    """
    if "IcebergSparkSessionExtensions" not in (spark.conf.get("spark.sql.extensions", "") or ""):
        raise EnvironmentMissingError(f"this Spark session has no Iceberg: {BUILD_HINT}")
    postgres = postgres or running_postgres()
    forget_deleted_tables(lake_uri, postgres)
    for key, value in catalog_settings(lake_uri, postgres).items():
        spark.conf.set(key, value)
    return catalog_name(lake_uri)


def forget_deleted_tables(lake_uri: str, postgres: PostgresEndpoint) -> list[str]:
    """Drop the catalog rows of a local lake's tables whose metadata file is gone; returns their names.

    On a laptop the lake folder is what users see and delete (`rm -rf lake`); its catalog rows stay
    in the stack's PostgreSQL and would name files that no longer exist, so the next run would fail
    on its first read. The rows of a deleted folder hold nothing any more: they go, and the lake
    starts empty, as the folder's owner meant. Only `file:` metadata is checked; any other table is
    left alone.
    """
    import psycopg

    name = catalog_name(lake_uri)
    try:
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
                                "WHERE catalog_name = %s ORDER BY 1, 2", (name,)).fetchall()
            gone = [(ns, table) for ns, table, location in rows
                    if location and location.startswith("file:") and not _exists(location)]
            for ns, table in gone:
                conn.execute("DELETE FROM iceberg_tables WHERE catalog_name = %s AND table_namespace = %s "
                             "AND table_name = %s", (name, ns, table))
    except psycopg.errors.UndefinedTable:  # no lake has been written on this stack yet
        return []
    forgotten = [f"{ns}.{table}" for ns, table in gone]
    if forgotten:
        log.warning("the lake %s was deleted under its catalog: forgetting %s (the lake starts empty)",
                    lake_uri, ", ".join(forgotten))
    return forgotten


def _exists(file_uri: str) -> bool:
    """Whether the file of a `file:/x` or `file:///x` URI exists (spelt as written, or percent-decoded)."""
    from urllib.parse import unquote

    path = "/" + file_uri[len("file:"):].lstrip("/")
    return Path(path).exists() or Path(unquote(path)).exists()


def sql_catalog(lake_uri: str, postgres: PostgresEndpoint | None = None) -> Any:
    """The lake's catalog for readers outside Spark (pyiceberg's SqlCatalog on the same PostgreSQL rows).

    Raises:
        EnvironmentMissingError: no local stack running (and no `postgres` given).
    """
    from pyiceberg.catalog.sql import SqlCatalog

    postgres = postgres or running_postgres()
    url = f"postgresql+psycopg://{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}/{postgres.database}"
    return SqlCatalog(catalog_name(lake_uri), uri=url, warehouse=normalise(lake_uri))


def load_table(catalog: Any, database: str, table: str) -> Any:
    """The pyiceberg table `database.table` of `catalog` (`sql_catalog`).

    Raises:
        InputError: the catalog has no such table.
    """
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return catalog.load_table((database, table))
    except NoSuchTableError:
        raise InputError(f"the lake has no table {database}.{table}") from None


def lake_database(lake_uri: str, postgres: PostgresEndpoint | None = None) -> str | None:
    """The namespace of the lake's catalog that holds its `sales` table: `ecomflow`, or the one a
    run's `--catalog_database` named; None when the catalog holds no lake table."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    catalog = sql_catalog(lake_uri, postgres)
    namespaces = [ns[0] for ns in catalog.list_namespaces() if len(ns) == 1]
    for database in sorted(namespaces, key=lambda name: name != contract.LAKE_DATABASE):
        try:
            if (database, contract.CURATED_TABLE) in catalog.list_tables(database):
                return database
        except NoSuchNamespaceError:
            continue
    return None


def metadata_locations(lake_uri: str, database: str, names: list[str],
                       postgres: PostgresEndpoint | None = None) -> dict[str, str | None]:
    """The current metadata file of each named table of the lake's catalog (None: no such table yet).

    Raises:
        EnvironmentMissingError: no local stack running (and none may be started).
    """
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    catalog = sql_catalog(lake_uri, postgres)
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = catalog.load_table((database, name)).metadata_location
        except (NoSuchTableError, NoSuchNamespaceError):
            found[name] = None
    return found


def static_table(metadata_location: str) -> Any:
    """The pyiceberg table whose metadata file is `metadata_location` (what a Glue Iceberg table names)."""
    from pyiceberg.table import StaticTable

    return StaticTable.from_metadata(metadata_location)


def committed_files(table: Any, snapshot_id: int | None = None) -> list[str]:
    """The data files of a pyiceberg table's current snapshot (or of `snapshot_id`): what a reader reads.

    Never a listing of the table's folder, which also holds files of unpublished audit branches and
    of commits that failed. The lake's writers never delete rows (ecomflow.stores.iceberg), so a
    snapshot is its data files; one with delete files is refused rather than read wrong. A table
    without snapshots has no files.

    Raises:
        InputError: no such snapshot, or a snapshot with delete files.
    """
    name = ".".join(table.name()) if hasattr(table, "name") else "the table"
    if snapshot_id is not None and table.snapshot_by_id(snapshot_id) is None:
        raise InputError(f"{name} has no snapshot {snapshot_id}")
    files = []
    for task in table.scan(snapshot_id=snapshot_id).plan_files():
        if task.delete_files:
            raise InputError(f"{name} has delete files, which this reader does not apply")
        files.append(local_path(task.file.file_path))
    return sorted(files)


def local_path(uri: str) -> str:
    """`file:/x`, `file:///x` -> `/x` (DuckDB reads paths); other URIs (`s3://...`) stay as they are."""
    if uri.startswith("file:"):
        return "/" + uri[len("file:"):].lstrip("/")
    return uri
