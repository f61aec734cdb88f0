"""Shared fixtures: one Spark session per test run, and the paths of the reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# A test never starts the developer's local stack behind its back: tests that need it take `local_stack`.
os.environ["ECOMFLOW_LOCAL_AUTOSTART"] = "off"

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("ECOMFLOW_REAL_DATA", ROOT.parent / "shared" / "data" / "online_retail.csv.gz"))


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (local, 127.0.0.1, UTC, UI off)."""
    from ecomflow.local.spark import local_session

    session = local_session(master="local[2]", app_name="ecomflow-tests",
                            extra={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real Online Retail file; tests that need it are skipped, saying why, where it is absent."""
    if not REAL_DATA.exists():
        pytest.skip(f"real data set not found at {REAL_DATA} (it lives in ../shared/data, outside the repo)")
    return REAL_DATA


# --- local stack (moto server + PostgreSQL 15), started through the same code as `ecomflow local up` ---

@pytest.fixture(scope="session")
def local_stack():
    """The running local stack of this test run (`ecomflow.local.localstack.Endpoints`), on free ports.

    Started once in a temporary state folder and torn down at the end of the session. While it
    runs, AWS_ENDPOINT_URL, region and dummy credentials point boto3 at its moto server.
    """
    import contextlib

    from ecomflow.errors import EnvironmentMissingError
    from ecomflow.local.localstack import stack_environment, temporary_stack

    with contextlib.ExitStack() as stack:
        try:
            endpoints = stack.enter_context(temporary_stack())
        except EnvironmentMissingError as exc:
            pytest.fail(f"local stack unavailable: {exc}", pytrace=False)
        stack.enter_context(stack_environment(endpoints))
        yield endpoints


@pytest.fixture(autouse=True)
def _local_aws_only_for_local_stack_users(request, monkeypatch):
    """Keep the session's AWS_ENDPOINT_URL away from tests that do not use `local_stack`.

    moto's in-process `mock_aws` does not intercept requests to a custom endpoint, so a unit test
    using it would otherwise talk to the shared moto server.
    """
    if "local_stack" not in request.fixturenames and "AWS_ENDPOINT_URL" in os.environ:
        from ecomflow.local.localstack import HOST

        if f"//{HOST}:" in os.environ["AWS_ENDPOINT_URL"]:
            monkeypatch.delenv("AWS_ENDPOINT_URL")


@pytest.fixture
def pg_database(local_stack):
    """A fresh, empty PostgreSQL database for one test (`PostgresEndpoint` with `.dsn`, `.jdbc_url`)."""
    import uuid

    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin_dsn = local_stack.postgres.dsn
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield local_stack.postgres.with_database(name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def lake_sql(local_stack):
    """`lake_sql(lake, "curated"|"quarantine", select)`: DuckDB over a lake's committed Iceberg snapshot.

    Read as every reader reads it (`analytics.explore.open_lake`: the catalog's current metadata,
    its committed files), never a listing of the lake's folders.
    """
    from ecomflow.analytics.explore import open_lake

    def run(lake, zone: str, select: str = "*"):
        view = "sales" if zone == "curated" else "quarantine"
        return open_lake(lake).connection.execute(f"select {select} from {view}")

    return run
