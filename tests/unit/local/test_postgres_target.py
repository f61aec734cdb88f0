"""The PostgreSQL stand-in for Redshift: found by name (never imported by the product), and what it reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ecomflow import plugins
from ecomflow.config import RedshiftSettings
from ecomflow.errors import EnvironmentMissingError
from ecomflow.local import postgres_target
from ecomflow.local.postgres_target import PostgresTarget
from ecomflow.stores import iceberg, redshift

DSN = "postgresql://ecomflow:secret@127.0.0.1:5439/ecomflow"  # never connected to here


def test_jdbc_url_and_properties_from_a_dsn():
    url, props = postgres_target.jdbc_from_dsn("postgresql://ecomflow:p%40ss@127.0.0.1:5439/ecomflow")
    assert url == "jdbc:postgresql://127.0.0.1:5439/ecomflow"
    assert props == {"driver": "org.postgresql.Driver", "user": "ecomflow", "password": "p@ss"}


def test_the_postgres_target_is_found_by_name_not_imported_by_the_store():
    assert plugins.load(plugins.REDSHIFT_TARGETS, "postgres") is PostgresTarget
    built = redshift.redshift_target(RedshiftSettings(mode="postgres", dsn=DSN))
    assert type(built) is PostgresTarget and built.dsn == DSN
    tree = ast.parse(Path(redshift.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and name.startswith("ecomflow.local") for name in imported)
    assert not hasattr(redshift, "PostgresTarget")


def test_without_the_local_package_postgres_mode_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr("ecomflow.plugins.entry_points", lambda group: [])
    with pytest.raises(EnvironmentMissingError, match="no 'postgres' in ecomflow.redshift_targets") as raised:
        redshift.redshift_target(RedshiftSettings(mode="postgres", dsn=DSN))
    assert "\n" not in str(raised.value)


def test_postgres_stages_the_batchs_own_rows_and_never_reads_the_lake():
    target = PostgresTarget(DSN)
    staged = []

    def upsert_frame(df):
        staged.append(df)
        return 3

    def upsert_partitions(*args):
        raise AssertionError("the lake was read")

    target.upsert_frame = upsert_frame
    target.upsert_partitions = upsert_partitions
    rows = object()  # the batch's curated DataFrame, passed through untouched
    table, _ = iceberg.lake_tables("lake", "ecomflow", "file:///lake")
    result = target.upsert_batch(None, table, rows, [])
    assert staged == [rows]
    assert result == redshift.UpsertResult((), 3)
    assert target.reads_lake is False and PostgresTarget.reads_lake is False
