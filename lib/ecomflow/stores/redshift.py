"""Redshift: the `sales` fact table and the BI views, upserted by `record_id` (staging table + MERGE).

One interface, `RedshiftTarget`, two implementations chosen by `--redshift_mode`:

- `DataApiTarget` (AWS, here): one Redshift Data API transaction creates a temporary staging table,
  COPYs committed data files of the lake's Iceberg table into it through a COPY manifest (only the
  files Iceberg names, never a folder listing, which also holds unpublished and failed writes),
  MERGEs and drops it.
- `PostgresTarget` (local, PostgreSQL 15 as Redshift): Spark writes the rows over JDBC into a
  staging table, psycopg runs the MERGE and drops the staging table. A stand-in, so it lives in
  `ecomflow.local.postgres_target` and is found by name (`plugins.REDSHIFT_TARGETS`, `postgres`).

The batch job calls `upsert_partitions(spark, table, partitions)` after publishing; the streaming
sink calls `upsert_batch(spark, table, curated, commits)` with the lake commits of its micro-batch.
`reads_lake` says whether that reads the lake (the Data API COPYs the files those commits added, so
its sink must follow the lake sink) or only the batch's rows. Either way the MERGE only touches rows
that are new or changed (`unchanged_delete_sql` drops the others from the staging table first), so a
micro-batch costs Redshift what the batch holds, not what its month holds.

The DDL lives in versioned files `sql/redshift/V<NNN>__<name>.sql`; `migrate()` applies the ones
not yet recorded in `schema_migrations`, each in one transaction together with its record. The
MERGE and the DDL are written once and are valid on both engines; text inside `/*redshift: ... */`
is a comment for PostgreSQL and is applied on Redshift (distribution and sort keys, roles), text
inside `/*postgres: ... */` the other way round.

Who connects (V003__access.sql): the jobs as `ETL_USER` (its own secret), BI tools as `BI_USER`, the
admin only for migrations. So on AWS the jobs do not migrate: `ecomflow warehouse setup`
(`stores.warehouse`, run by `make deploy`) applies the files as the admin, and a job's `migrate()`
only checks that the warehouse is at the code's version (`DataApiTarget(applies_migrations=False)`).
"""

from __future__ import annotations

import abc
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from ecomflow import contract, plugins
from ecomflow.errors import ConfigError, PublishError
from ecomflow.spark.schemas import CURATED_COLUMNS, CURATED_PARTITIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ecomflow.config import RedshiftSettings
    from ecomflow.stores.iceberg import Commit, DataFile, LakeTable

log = logging.getLogger(__name__)

FACT_TABLE = contract.CURATED_TABLE
KEY_COLUMN = "record_id"
MIGRATIONS_TABLE = "schema_migrations"
# The fact table's columns: the curated columns but the partition columns, in the table's order.
SALES_COLUMNS: tuple[str, ...] = tuple(c for c in CURATED_COLUMNS if c not in CURATED_PARTITIONS)
# Lineage: which load brought a line. Not a change of the line: a line seen again is not rewritten.
LINEAGE_COLUMNS: tuple[str, ...] = ("source", "ingested_at")
DATA_API_MAX_STATEMENTS = 40  # BatchExecuteStatement takes at most 40 SQL statements
_MIGRATION_FILE = re.compile(r"^V(\d+)__(\w+)\.sql$")
_DIALECT_ONLY = {"redshift": re.compile(r"/\*redshift:(.*?)\*/", re.DOTALL),
                 "postgres": re.compile(r"/\*postgres:(.*?)\*/", re.DOTALL)}
# The database users and roles of V003__access.sql.
ETL_ROLE, ETL_USER = "ecomflow_etl", "ecomflow_etl_user"
BI_ROLE, BI_USER = "ecomflow_bi", "ecomflow_bi_user"

MIGRATIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
    "version VARCHAR(32) NOT NULL PRIMARY KEY, "
    "description VARCHAR(256) NOT NULL, "
    "applied_at TIMESTAMP NOT NULL)"
)


# --- SQL ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    """One versioned DDL file."""

    version: str  # "V001"
    number: int
    description: str
    sql: str

    def statements(self, dialect: str) -> list[str]:
        """The file's statements for `dialect` ("postgres" or "redshift")."""
        return split_statements(for_dialect(self.sql, dialect))


def load_migrations() -> list[Migration]:
    """The DDL files of `ecomflow/sql/redshift`, in version order."""
    folder = resources.files("ecomflow") / "sql" / "redshift"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(f"V{match.group(1)}", int(match.group(1)), match.group(2),
                                   entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.number)


def for_dialect(sql: str, dialect: str) -> str:
    """Apply the `/*<dialect>: ... */` blocks of `dialect`; the other dialect's stay comments."""
    pattern = _DIALECT_ONLY.get(dialect)
    return pattern.sub(lambda m: m.group(1).strip(), sql) if pattern else sql


def split_statements(sql: str) -> list[str]:
    """Split a SQL script at `;` outside quotes and comments; comments are dropped."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            current.append(" ")
            continue
        if sql.startswith("$$", i):  # a PostgreSQL dollar-quoted body (DO $$ ... $$): one piece
            end = sql.find("$$", i + 2)
            end = n if end < 0 else end + 2
            current.append(sql[i:end])
            i = end
            continue
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch and sql.startswith(ch * 2, end):
                    end += 2
                    continue
                if sql[end] == ch:
                    break
                end += 1
            current.append(sql[i:end + 1])
            i = end + 1
            continue
        if ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [re.sub(r"[ \t]+\n", "\n", s).strip() for s in statements if s.strip()]


def quote_literal(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def merge_sql(staging_table: str, target: str = FACT_TABLE, key: str = KEY_COLUMN,
              columns: Sequence[str] = SALES_COLUMNS) -> str:
    """The upsert, valid on Redshift and PostgreSQL 15: update matched keys, insert the others.

    Redshift's MERGE allows no alias on the target, unqualified columns in UPDATE SET, and no
    condition on `WHEN MATCHED`: so the rows that would not change are deleted from the staging
    table first (`unchanged_delete_sql`), and what is left to match is only what changed.
    """
    updates = ",\n    ".join(f"{c} = s.{c}" for c in columns if c != key)
    return (
        f"MERGE INTO {target}\nUSING {staging_table} AS s\nON {target}.{key} = s.{key}\n"
        f"WHEN MATCHED THEN UPDATE SET\n    {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)})\n"
        f"VALUES ({', '.join(f's.{c}' for c in columns)})"
    )


def unchanged_delete_sql(staging_table: str, target: str = FACT_TABLE, key: str = KEY_COLUMN,
                         columns: Sequence[str] = SALES_COLUMNS) -> str:
    """Delete from the staging table the rows `target` already holds with the same values.

    Run before `merge_sql`, so the MERGE writes only new and changed rows: a replay, or a batch
    partition loaded again, rewrites nothing. Lineage columns are not compared (`LINEAGE_COLUMNS`).
    Null-safe equality spelt out: Redshift has no `IS NOT DISTINCT FROM`.
    """
    same = "\n  AND ".join(
        f"({target}.{c} = {staging_table}.{c} OR ({target}.{c} IS NULL AND {staging_table}.{c} IS NULL))"
        for c in columns if c != key and c not in LINEAGE_COLUMNS)
    return (f"DELETE FROM {staging_table}\nUSING {target}\n"
            f"WHERE {target}.{key} = {staging_table}.{key}\n  AND {same}")


def migration_record_sql(migration: Migration, applied_at: datetime) -> str:
    """The INSERT that records an applied migration (literals: the Data API batch takes no parameters)."""
    stamp = applied_at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    return (f"INSERT INTO {MIGRATIONS_TABLE} (version, description, applied_at) VALUES "
            f"({quote_literal(migration.version)}, {quote_literal(migration.description)}, "
            f"CAST({quote_literal(stamp)} AS TIMESTAMP))")


def s3_copy_uri(uri: str) -> str:
    """The `s3://` form COPY accepts for a lake URI (Hadoop's s3a:// and s3n:// are the same objects)."""
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme):]
    if not uri.startswith("s3://"):
        raise ConfigError(f"Redshift COPY reads from S3 only, not {uri!r}: the lake must be an s3:// URI")
    return uri


# --- the interface -----------------------------------------------------------------------------

@dataclass(frozen=True)
class UpsertResult:
    """What one upsert did: partitions read, rows the MERGE wrote (new or changed; None: unknown), files COPYd."""

    partitions: tuple[str, ...]
    merged_rows: int | None
    files: int | None = None


class RedshiftTarget(abc.ABC):
    """Where `sales` lives: schema migrations and idempotent upserts of curated partitions."""

    dialect: str = "postgres"
    # Whether `upsert_batch` reads the lake's curated partitions (then the lake must hold the batch
    # first) or only the batch's own rows. True is the safe answer for a target that does not say.
    reads_lake: bool = True

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    @abc.abstractmethod
    def execute(self, statements: Sequence[str], name: str) -> list[int | None]:
        """Run `statements` in one transaction; return each statement's affected row count."""

    @abc.abstractmethod
    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SELECT and return its rows."""

    @abc.abstractmethod
    def upsert_partitions(self, spark: SparkSession, table: LakeTable,
                          partitions: Sequence[str]) -> UpsertResult:
        """MERGE the committed rows of `table`'s `partitions` (`year=2011/month=1`) into `sales` by `record_id`."""

    @abc.abstractmethod
    def upsert_batch(self, spark: SparkSession, table: LakeTable, curated: DataFrame,
                     commits: Sequence[Commit]) -> UpsertResult:
        """MERGE one micro-batch's curated rows into `sales` by `record_id`.

        Args:
            spark: the session.
            table: the lake's curated table.
            curated: the batch's curated rows (a target that `reads_lake` may leave them unread).
            commits: the lake commits of this micro-batch (a replay's earlier attempts included),
                whose added files a target that `reads_lake` loads; empty for one that does not.
        """

    # Whether this connection brings the schema up to date (the admin's; the local stand-in's
    # superuser) or only checks it is (a job's ETL user, which may not run DDL).
    applies_migrations: bool = True

    def pending_migrations(self) -> list[Migration]:
        """The DDL files not yet recorded in `schema_migrations` (all of them in a new database)."""
        try:
            applied = {row[0] for row in self.query(f"SELECT version FROM {MIGRATIONS_TABLE}")}
        except PublishError:  # no table yet: nothing applied
            applied = set()
        return [m for m in load_migrations() if m.version not in applied]

    def migrate(self) -> list[str]:
        """Apply the DDL files not yet recorded in `schema_migrations`; return their versions.

        A connection that does not `applies_migrations` applies none and checks there is none pending.

        Raises:
            PublishError: (a checking connection) the warehouse lacks versions the code needs.
        """
        if not self.applies_migrations:
            pending = [m.version for m in self.pending_migrations()]
            if pending:
                raise PublishError(f"the Redshift warehouse lacks migrations {', '.join(pending)}: run "
                                   f"`ecomflow warehouse setup --stack <stack>` (make deploy does) as the admin")
            return []
        self.execute([MIGRATIONS_DDL], name="ecomflow-migrations-table")
        applied = {row[0] for row in self.query(f"SELECT version FROM {MIGRATIONS_TABLE}")}
        done = []
        for migration in load_migrations():
            if migration.version in applied:
                continue
            self.execute([*migration.statements(self.dialect), migration_record_sql(migration, self._clock())],
                         name=f"ecomflow-{migration.version}")
            log.info("applied Redshift migration %s__%s", migration.version, migration.description)
            done.append(migration.version)
        return done


# --- Redshift Data API (AWS) -------------------------------------------------------------------

class DataApiTarget(RedshiftTarget):
    """Amazon Redshift through the Data API: COPY the curated parquet from S3 into a temp table, MERGE."""

    dialect = "redshift"
    reads_lake = True  # upsert_batch COPYs the files the batch's lake commits added
    STAGE = f"{FACT_TABLE}_stage"

    def __init__(self, client: Any, database: str, iam_role: str, workgroup: str | None = None,
                 cluster_id: str | None = None, secret_arn: str | None = None, db_user: str | None = None,
                 poll_seconds: float = 1.0, timeout: float = 1800.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] | None = None, applies_migrations: bool = False,
                 s3: Any = None, manifest_prefix: str | None = None) -> None:
        super().__init__(clock)
        if bool(workgroup) == bool(cluster_id):
            raise ConfigError("the Redshift Data API needs exactly one of a workgroup or a cluster id")
        if workgroup and db_user:
            # Serverless takes no DbUser: its temporary credentials are the caller's IAM identity's.
            raise ConfigError("a Redshift Serverless workgroup takes no database user (--redshift_db_user): "
                              "use --redshift_secret_arn, or neither for the IAM identity's own user")
        self.applies_migrations = applies_migrations
        self.client = client
        self.database = database
        self.iam_role = iam_role
        self.workgroup = workgroup
        self.cluster_id = cluster_id
        self.secret_arn = secret_arn
        self.db_user = db_user
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self._sleep = sleep
        self._s3 = s3
        self.manifest_prefix = manifest_prefix

    @property
    def s3(self) -> Any:
        """The S3 client that writes the COPY manifests (made on first use)."""
        if self._s3 is None:
            from ecomflow import aws
            self._s3 = aws.client("s3")
        return self._s3

    def _target(self) -> dict[str, str]:
        """The connection parameters every Data API call carries."""
        params = {"Database": self.database}
        if self.workgroup:
            params["WorkgroupName"] = self.workgroup
        else:
            params["ClusterIdentifier"] = self.cluster_id  # type: ignore[assignment]
        if self.secret_arn:
            params["SecretArn"] = self.secret_arn
        elif self.db_user and self.cluster_id:  # temporary credentials of a provisioned cluster only
            params["DbUser"] = self.db_user
        return params

    def _wait(self, statement_id: str, name: str) -> dict[str, Any]:
        waited = 0.0
        while True:
            described = self.client.describe_statement(Id=statement_id)
            status = described["Status"]
            if status == "FINISHED":
                return described
            if status in ("FAILED", "ABORTED"):
                raise PublishError(f"Redshift {name} {status.lower()}: {described.get('Error', 'no error text')}")
            if waited >= self.timeout:
                raise PublishError(f"Redshift {name} still {status} after {self.timeout:.0f}s (id {statement_id})")
            self._sleep(self.poll_seconds)
            waited += self.poll_seconds

    def execute(self, statements: Sequence[str], name: str) -> list[int | None]:
        if len(statements) > DATA_API_MAX_STATEMENTS:
            raise PublishError(f"{name}: {len(statements)} statements, the Data API takes "
                               f"{DATA_API_MAX_STATEMENTS} a batch")
        if len(statements) == 1:
            started = self.client.execute_statement(Sql=statements[0], StatementName=name, **self._target())
            described = self._wait(started["Id"], name)
            return [described.get("ResultRows")]
        # A batch runs as one transaction, in one session (so a TEMP table lives through it).
        started = self.client.batch_execute_statement(Sqls=list(statements), StatementName=name, **self._target())
        described = self._wait(started["Id"], name)
        subs = described.get("SubStatements") or []
        return [sub.get("ResultRows") for sub in subs] or [None] * len(statements)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        started = self.client.execute_statement(Sql=sql, StatementName="ecomflow-query", **self._target())
        self._wait(started["Id"], "query")
        rows: list[tuple[Any, ...]] = []
        token = None
        while True:
            page = self.client.get_statement_result(Id=started["Id"], **({"NextToken": token} if token else {}))
            rows.extend(tuple(_field_value(f) for f in record) for record in page.get("Records", []))
            token = page.get("NextToken")
            if not token:
                return rows

    def manifest_uri(self, table: LakeTable) -> str:
        """Where a load's COPY manifest goes: `<lake>/_runs/redshift-manifests/` (deleted after the load)."""
        if self.manifest_prefix:
            return f"{self.manifest_prefix.rstrip('/')}/{uuid.uuid4().hex}.manifest"
        location = table.location.rstrip("/")
        suffix = "/" + contract.CURATED_ZONE
        lake = location[:-len(suffix)] if location.endswith(suffix) else location
        return f"{contract.zone_uri(lake, contract.RUNS_ZONE)}/redshift-manifests/{uuid.uuid4().hex}.manifest"

    def copy_sql(self, manifest_uri: str) -> str:
        """COPY the parquet data files a manifest names into the staging table."""
        return (f"COPY {self.STAGE} FROM {quote_literal(s3_copy_uri(manifest_uri))} "
                f"IAM_ROLE {quote_literal(self.iam_role)} FORMAT AS PARQUET MANIFEST")

    def stage_sql(self) -> str:
        """The temporary staging table: `sales`' columns, then the partition columns.

        COPY from parquet fills columns by position and needs as many as the file has: Iceberg's
        data files hold `year` and `month` too (hive folders did not), at the end (CURATED_SCHEMA).
        """
        partitions = ", ".join(f"CAST(NULL AS INTEGER) AS {c}" for c in CURATED_PARTITIONS)
        return (f"CREATE TEMP TABLE {self.STAGE} AS SELECT {', '.join(SALES_COLUMNS)}, {partitions} "
                f"FROM {FACT_TABLE} WHERE 1 = 0")

    def upsert_statements(self, manifest_uri: str) -> list[str]:
        """The statements of one upsert transaction: staging table, COPY, drop unchanged rows, MERGE, drop."""
        return [
            self.stage_sql(),
            self.copy_sql(manifest_uri),
            unchanged_delete_sql(self.STAGE),
            merge_sql(self.STAGE),
            f"DROP TABLE {self.STAGE}",
        ]

    def upsert_files(self, table: LakeTable, files: Sequence[DataFile]) -> int:
        """COPY `files` (committed data files of `table`) through one manifest and MERGE; returns rows merged."""
        if not files:
            return 0
        manifest = self.manifest_uri(table)
        bucket, key = split_s3_uri(manifest)
        self.s3.put_object(Bucket=bucket, Key=key, Body=copy_manifest(files).encode("utf-8"),
                           ContentType="application/json")
        try:
            counts = self.execute(self.upsert_statements(manifest), name=f"ecomflow-upsert-{FACT_TABLE}")
        finally:
            self.s3.delete_object(Bucket=bucket, Key=key)
        return (counts[3] or 0) if len(counts) > 3 else 0  # the MERGE's row count

    def upsert_partitions(self, spark: SparkSession, table: LakeTable,
                          partitions: Sequence[str]) -> UpsertResult:
        """COPY the committed data files of `partitions` (main's snapshot) and MERGE what is new or changed."""
        from ecomflow.stores import iceberg

        touched = [iceberg.partition_values(table, p) for p in partitions]
        files = iceberg.committed_files(spark, table, touched) if touched else []
        merged = self.upsert_files(table, files)
        log.info("Redshift: merged %d rows of %d partitions (%d files) into %s", merged, len(partitions),
                 len(files), FACT_TABLE)
        return UpsertResult(tuple(partitions), merged, files=len(files))

    def upsert_batch(self, spark: SparkSession, table: LakeTable, curated: DataFrame | None,
                     commits: Sequence[Commit]) -> UpsertResult:
        """COPY only the data files the batch's lake commits added (the lake sink ran first) and MERGE them.

        A replay whose own MERGE added nothing still loads the files its earlier attempt committed:
        `commits` holds every commit of the batch, and loading a file again changes nothing.
        """
        from ecomflow.stores import iceberg

        files = sorted({f for commit in commits if commit.added_data_files
                        for f in iceberg.added_data_files(spark, table, commit.snapshot_id)},
                       key=lambda f: f.path)
        merged = self.upsert_files(table, files)
        log.info("Redshift: merged %d rows of %d files (%d commits) into %s", merged, len(files), len(commits),
                 FACT_TABLE)
        return UpsertResult((), merged, files=len(files))


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key")."""
    bucket, _, key = s3_copy_uri(uri)[len("s3://"):].partition("/")
    return bucket, key


def copy_manifest(files: Sequence[DataFile]) -> str:
    """A COPY manifest of `files`: each mandatory, with the `content_length` COPY needs for parquet."""
    return json.dumps({"entries": [
        {"url": s3_copy_uri(f.path), "mandatory": True, "meta": {"content_length": f.size_bytes}} for f in files
    ]}, indent=1)


def _field_value(field: dict[str, Any]) -> Any:
    if field.get("isNull"):
        return None
    for kind in ("stringValue", "longValue", "doubleValue", "booleanValue", "blobValue"):
        if kind in field:
            return field[kind]
    return None


# --- wiring ------------------------------------------------------------------------------------

def redshift_target(settings: RedshiftSettings, client: Any = None) -> RedshiftTarget | None:
    """The target `settings` asks for, or None when `mode` is "off"."""
    if settings.mode == "off":
        return None
    if settings.mode == "postgres":
        if not settings.dsn:
            raise ConfigError("--redshift_mode postgres needs --redshift_dsn")
        postgres_target = plugins.load(plugins.REDSHIFT_TARGETS, "postgres")  # ecomflow.local.postgres_target
        return postgres_target(settings.dsn)
    if settings.mode == "data-api":
        if client is None:
            from ecomflow import aws
            client = aws.client("redshift-data")
        return DataApiTarget(client, database=settings.database, iam_role=settings.iam_role or "",
                             workgroup=settings.workgroup, cluster_id=settings.cluster_id,
                             secret_arn=settings.secret_arn, db_user=settings.db_user)
    raise ConfigError(f"unknown --redshift_mode {settings.mode!r}")
