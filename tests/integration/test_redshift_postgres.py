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


def test_upsert_twice_leaves_the_same_rows(spark, target):
    rows = spark.createDataFrame([line("a", "HEART", 6, "2.55"), line("b", "LANTERN", 2, "3.39")], CURATED_SCHEMA)
    target.upsert_frame(rows)
    target.upsert_frame(rows)
    assert sales(target.dsn) == [("a", "HEART", 6, Decimal("15.300")), ("b", "LANTERN", 2, Decimal("6.780"))]


def test_upsert_updates_a_changed_row_and_inserts_a_new_one(spark, target):
    target.upsert_frame(spark.createDataFrame([line("a", "HEART", 6, "2.55")], CURATED_SCHEMA))
    merged = target.upsert_frame(spark.createDataFrame(
        [line("a", "WHITE HEART", 6, "2.55"), line("c", "CLOCK", 1, "3.75")], CURATED_SCHEMA))
    assert merged == 2
    assert sales(target.dsn) == [("a", "WHITE HEART", 6, Decimal("15.300")), ("c", "CLOCK", 1, Decimal("3.750"))]


def test_no_staging_table_is_left_behind(spark, target):
    target.upsert_frame(spark.createDataFrame([line("a", "HEART", 6, "2.55")], CURATED_SCHEMA))
    with psycopg.connect(target.dsn) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    assert tables == [("sales",), ("schema_migrations",)]
