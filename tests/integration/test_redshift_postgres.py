"""The PostgreSQL Redshift target on a fresh database: migrations and the MERGE upsert are idempotent."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
import pytest

from ecomflow.local.postgres_target import PostgresTarget
from ecomflow.spark.schemas import CURATED_SCHEMA

pytestmark = pytest.mark.integration

INGESTED = datetime(2024, 1, 1)


def line(record_id: str, description: str, quantity: int, price: str) -> tuple:
    revenue = Decimal(price) * quantity
    return (record_id, "536365", "85123A", description, quantity, Decimal(price), revenue,
            datetime(2010, 12, 1, 8, 26), "17850", "United Kingdom", "sale", "in.csv", INGESTED, 2010, 12)


def sales(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT record_id, description, quantity, revenue FROM sales ORDER BY 1").fetchall()


@pytest.fixture
def target(pg_database):
    pg = PostgresTarget(pg_database.dsn)
    pg.migrate()
    return pg


def test_migrate_twice_applies_nothing_the_second_time(target):
    assert target.migrate() == []


def test_upsert_twice_leaves_the_same_rows(local_stack, spark, target):
    rows = spark.createDataFrame([line("a", "HEART", 6, "2.55"), line("b", "LANTERN", 2, "3.39")], CURATED_SCHEMA)
    target.upsert_frame(rows)
    target.upsert_frame(rows)
    assert sales(target.dsn) == [("a", "HEART", 6, Decimal("15.300")), ("b", "LANTERN", 2, Decimal("6.780"))]


def test_upsert_updates_a_changed_row_and_inserts_a_new_one(local_stack, spark, target):
    target.upsert_frame(spark.createDataFrame([line("a", "HEART", 6, "2.55")], CURATED_SCHEMA))
    merged = target.upsert_frame(spark.createDataFrame(
        [line("a", "WHITE HEART", 6, "2.55"), line("c", "CLOCK", 1, "3.75")], CURATED_SCHEMA))
    assert merged == 2
    assert sales(target.dsn) == [("a", "WHITE HEART", 6, Decimal("15.300")), ("c", "CLOCK", 1, Decimal("3.750"))]


def test_a_row_seen_again_unchanged_is_not_rewritten_even_with_other_lineage(local_stack, spark, target):
    rows = [line("a", "HEART", 6, "2.55"), line("b", "LANTERN", 2, "3.39")]
    target.upsert_frame(spark.createDataFrame(rows, CURATED_SCHEMA))
    with psycopg.connect(target.dsn) as conn:  # a row's xmin changes with every write of it
        before = conn.execute("SELECT record_id, xmin::text FROM sales ORDER BY 1").fetchall()
    again = [(*row[:12], datetime(2024, 2, 2), *row[13:]) for row in rows]  # ingested again later
    assert target.upsert_frame(spark.createDataFrame(again, CURATED_SCHEMA)) == 0
    with psycopg.connect(target.dsn) as conn:
        assert conn.execute("SELECT record_id, xmin::text FROM sales ORDER BY 1").fetchall() == before


def test_a_batch_upsert_reads_the_committed_rows_of_its_partitions_from_the_iceberg_table(spark, target, local_stack,
                                                                                           tmp_path):
    from ecomflow.local import iceberg as local_iceberg
    from ecomflow.stores import iceberg

    lake = (tmp_path / "lake").as_uri()
    table, _ = iceberg.lake_tables(local_iceberg.register_catalog(spark, lake, local_stack.postgres), "ecomflow",
                                   lake)
    iceberg.ensure_table(spark, table)
    january = (*line("j", "CLOCK", 1, "3.75")[:13], 2011, 1)
    iceberg.merge_new_rows(spark, table, spark.createDataFrame(
        [line("a", "HEART", 6, "2.55"), line("b", "LANTERN", 2, "3.39"), january], CURATED_SCHEMA))
    result = target.upsert_partitions(spark, table, ["year=2010/month=12"])
    assert result.merged_rows == 2 and result.partitions == ("year=2010/month=12",)
    assert [r[0] for r in sales(target.dsn)] == ["a", "b"]  # not January's row
    assert target.upsert_partitions(spark, table, ["year=2010/month=12"]).merged_rows == 0  # again: nothing


def test_no_staging_table_is_left_behind(local_stack, spark, target):
    target.upsert_frame(spark.createDataFrame([line("a", "HEART", 6, "2.55")], CURATED_SCHEMA))
    with psycopg.connect(target.dsn) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    assert tables == [("sales",), ("schema_migrations",)]


# --- who may do what (V003__access.sql) ---------------------------------------------------------

def as_user(dsn: str, user: str, sql: str, *params) -> list[tuple]:
    """Run `sql` with `user`'s privileges (SET ROLE: the privilege checks are that role's)."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"SET ROLE {user}")
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def test_the_etl_user_upserts_sales_through_a_temp_staging_table(target, pg_database):
    from ecomflow.stores.redshift import ETL_USER, SALES_COLUMNS, merge_sql

    with psycopg.connect(pg_database.dsn) as conn:
        conn.execute(f"SET ROLE {ETL_USER}")
        conn.execute("CREATE TEMP TABLE sales_stage (LIKE sales)")
        values = line("r1", "WHITE HANGING HEART", 6, "2.55")[:len(SALES_COLUMNS)]
        conn.execute(f"INSERT INTO sales_stage ({', '.join(SALES_COLUMNS)}) VALUES "
                     f"({', '.join(['%s'] * len(SALES_COLUMNS))})", values)
        conn.execute(merge_sql("sales_stage"))
    assert sales(pg_database.dsn) == [("r1", "WHITE HANGING HEART", 6, Decimal("15.300"))]


@pytest.mark.parametrize("sql", [
    "CREATE TABLE other (a INT)",
    "INSERT INTO schema_migrations VALUES ('V999', 'x', now())",
    "DROP VIEW customer_rfm",
], ids=["create-table", "write-migrations", "drop-view"])
def test_the_etl_user_writes_nothing_but_sales(target, pg_database, sql):
    from ecomflow.stores.redshift import ETL_USER

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(pg_database.dsn, ETL_USER, sql)


def test_the_bi_user_reads_sales_and_the_views_and_writes_nothing(target, pg_database):
    from ecomflow.stores.redshift import BI_USER

    for relation in ("sales", "daily_revenue_by_country", "customer_rfm"):
        assert as_user(pg_database.dsn, BI_USER, f"SELECT COUNT(*) FROM {relation}") == [(0,)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(pg_database.dsn, BI_USER, "DELETE FROM sales")


def test_the_access_migration_runs_in_a_second_database_of_the_same_server(target, local_stack):
    # PostgreSQL's roles are the server's: a second database migrating V003 must not trip over them.
    import uuid

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(local_stack.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        assert "V003" in PostgresTarget(local_stack.postgres.with_database(name).dsn).migrate()
    finally:
        with psycopg.connect(local_stack.postgres.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
