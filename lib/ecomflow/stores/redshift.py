"""Redshift: the `sales` fact table and the BI views, upserted by `record_id` (staging table + MERGE).

One interface, `RedshiftTarget`, two implementations chosen by `--redshift_mode`:

- `DataApiTarget` (AWS, here): one Redshift Data API transaction creates a temporary staging table,
  COPYs the touched curated partitions from S3 parquet into it, MERGEs and drops it.
- `PostgresTarget` (local, PostgreSQL 15 as Redshift): Spark writes the rows over JDBC into a
  staging table, psycopg runs the MERGE and drops the staging table. A stand-in, so it lives in
  `ecomflow.local.postgres_target` and is found by name (`plugins.REDSHIFT_TARGETS`, `postgres`).

The streaming sink calls `upsert_batch` on either; `reads_lake` says whether that reads the lake's
partitions (the Data API COPYs them, so its sink must follow the lake sink) or only the batch's rows.

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
import logging
import re
import time
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

log = logging.getLogger(__name__)

FACT_TABLE = contract.CURATED_TABLE
KEY_COLUMN = "record_id"
MIGRATIONS_TABLE = "schema_migrations"
# The fact table's columns, in the order of the columns inside the curated parquet files.
SALES_COLUMNS: tuple[str, ...] = tuple(c for c in CURATED_COLUMNS if c not in CURATED_PARTITIONS)
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

    Redshift's MERGE allows no alias on the target and unqualified columns in UPDATE SET.
    """
    updates = ",\n    ".join(f"{c} = s.{c}" for c in columns if c != key)
    return (
        f"MERGE INTO {target}\nUSING {staging_table} AS s\nON {target}.{key} = s.{key}\n"
        f"WHEN MATCHED THEN UPDATE SET\n    {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)})\n"
        f"VALUES ({', '.join(f's.{c}' for c in columns)})"
    )


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
    """What one upsert did: the partitions read and the rows the MERGE touched (None if unknown)."""

    partitions: tuple[str, ...]
    merged_rows: int | None


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
    def upsert_partitions(self, spark: SparkSession, curated_uri: str,
                          partitions: Sequence[str]) -> UpsertResult:
        """MERGE every row of the published curated `partitions` into `sales` by `record_id`."""

    @abc.abstractmethod
    def upsert_batch(self, spark: SparkSession, curated: DataFrame, curated_uri: str,
                     partitions: Sequence[str]) -> UpsertResult:
        """MERGE one micro-batch's curated rows into `sales` by `record_id`.

        Args:
            spark: the session.
            curated: the batch's curated rows (a target that `reads_lake` may leave them unread).
            curated_uri: the lake's curated table.
            partitions: the curated partitions the batch touched.
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
    reads_lake = True  # upsert_batch COPYs the touched partitions from the lake
    STAGE = f"{FACT_TABLE}_stage"

    def __init__(self, client: Any, database: str, iam_role: str, workgroup: str | None = None,
                 cluster_id: str | None = None, secret_arn: str | None = None, db_user: str | None = None,
                 poll_seconds: float = 1.0, timeout: float = 1800.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] | None = None, applies_migrations: bool = False) -> None:
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

    def copy_sql(self, uri: str) -> str:
        """COPY one curated partition folder (parquet) into the staging table."""
        return (f"COPY {self.STAGE} FROM {quote_literal(s3_copy_uri(uri).rstrip('/') + '/')} "
                f"IAM_ROLE {quote_literal(self.iam_role)} FORMAT AS PARQUET")

    def upsert_statements(self, curated_uri: str, partitions: Sequence[str]) -> list[str]:
        """The statements of one upsert transaction: temp staging table, COPYs, MERGE, drop."""
        return [
            f"CREATE TEMP TABLE {self.STAGE} (LIKE {FACT_TABLE})",
            *[self.copy_sql(f"{curated_uri}/{p}") for p in partitions],
            merge_sql(self.STAGE),
            f"DROP TABLE {self.STAGE}",
        ]

    def upsert_partitions(self, spark: SparkSession | None, curated_uri: str,
                          partitions: Sequence[str]) -> UpsertResult:
        per_batch = DATA_API_MAX_STATEMENTS - 3
        merged = 0
        for start in range(0, len(partitions), per_batch):
            chunk = partitions[start:start + per_batch]
            counts = self.execute(self.upsert_statements(curated_uri, chunk),
                                  name=f"ecomflow-upsert-{FACT_TABLE}")
            merged += counts[-2] or 0
        log.info("Redshift: merged %d rows of %d partitions into %s", merged, len(partitions), FACT_TABLE)
        return UpsertResult(tuple(partitions), merged)

    def upsert_batch(self, spark: SparkSession | None, curated: DataFrame | None, curated_uri: str,
                     partitions: Sequence[str]) -> UpsertResult:
        """COPY the batch's touched partitions from the lake (the lake sink ran first) and MERGE them."""
        return self.upsert_partitions(spark, curated_uri, partitions)


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
