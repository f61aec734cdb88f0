"""After publish, for real: Glue catalog on the moto server, `sales` + BI views on PostgreSQL, Athena SQL.

A small hand-made input is run through the batch job twice with the catalog and Redshift hooks;
every expected number below was worked out by hand from INPUT, not by the code under test.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

import psycopg
import pytest

from ecomflow import aws
from ecomflow.app.batch_job import catalog_hook, redshift_hook
from ecomflow.cli.main import main as cli_main
from ecomflow.config import parse_batch_config
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime

pytestmark = pytest.mark.integration

INPUT = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
1001,85123A,Alpha,2,1/10/2011 9:00,1.5,100,United Kingdom
1001,22633,Beta,1,1/10/2011 9:00,10,100,United Kingdom
1002,85123A,Alpha,4,1/10/2011 15:30,1.5,200,France
C1003,22633,Beta,-1,1/11/2011 10:00,10,100,United Kingdom
1004,POST,Postage,1,1/11/2011 11:00,18,200,France
1005,85123A,Alpha,10,2/1/2011 8:00,1.25,,United Kingdom
1006,22633,Beta,3,2/5/2011 12:00,9.99,100,United Kingdom
1006,22633,Beta,3,2/5/2011 12:00,9.99,100,United Kingdom
1007,X,Nothing,0,2/5/2011 12:00,1,100,United Kingdom
"""
# (real stock codes: "B" would be a service code, adjust bad debt, in the default set)
# 7 curated lines (one duplicate dropped, one zero quantity quarantined);
# net revenue 3 + 10 + 6 - 10 + 18 + 12.5 + 29.97 = 69.47.
CURATED_ROWS = 7
NET_REVENUE = Decimal("69.470")


def pg_rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def glue_metadata(database: str, table: str) -> str:
    """The metadata file the Glue table names: what Athena reads."""
    return aws.client("glue").get_table(DatabaseName=database, Name=table)["Table"]["Parameters"]["metadata_location"]


def catalog_metadata(lake, database: str, table: str) -> str | None:  # noqa: ANN001 - a Path
    """The metadata file of the table's current state in the lake's own (Iceberg JDBC) catalog,
    where the run's `--catalog_database` names the namespace too (as on Glue, where they are one)."""
    from ecomflow.local import iceberg

    return iceberg.metadata_locations(str(lake), database, [table])[table]


@pytest.fixture(scope="module")
def published(local_stack, spark, tmp_path_factory):
    """The input run twice with both hooks; what the stores held after each run."""
    database = f"ecomflow_{uuid.uuid4().hex[:8]}"
    admin = local_stack.postgres.dsn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = local_stack.postgres.with_database(database).dsn
    folder = tmp_path_factory.mktemp("publish")
    (folder / "in.csv").write_text(INPUT, encoding="latin-1")
    config = parse_batch_config([
        "batch", "--input", str(folder / "in.csv"), "--lake", str(folder / "lake"),
        "--catalog_database", database, "--redshift_mode", "postgres", "--redshift_dsn", dsn])
    hooks = (catalog_hook(config), redshift_hook(config))
    runs = []
    for _ in range(2):
        run_batch(Runtime(spark=spark), config, after_publish=hooks)
        runs.append(SimpleNamespace(
            glue={name: glue_metadata(database, name) for name in ("sales", "sales_quarantine")},
            iceberg={name: catalog_metadata(folder / "lake", database, name) for name in ("sales", "sales_quarantine")},
            sales=pg_rows(dsn, "SELECT COUNT(*), SUM(revenue), COUNT(DISTINCT record_id) FROM sales")[0]))
    yield SimpleNamespace(database=database, dsn=dsn, runs=runs, lake=folder / "lake")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_the_glue_tables_name_the_published_snapshot_after_each_run(published):
    first, second = published.runs
    assert None not in first.iceberg.values()
    assert first.glue == first.iceberg and second.glue == second.iceberg
    assert first.glue != second.glue  # the second run committed (its own snapshot) and Glue follows


def test_catalog_tables_are_iceberg_tables_at_the_lake(published):
    table = aws.client("glue").get_table(DatabaseName=published.database, Name="sales")["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["StorageDescriptor"]["Location"] == f"file://{published.lake}/curated/sales"
    assert table.get("PartitionKeys", []) == []  # in Iceberg's metadata


def test_postgres_sales_agree_with_the_input_after_each_run(published):
    first, second = published.runs
    assert first.sales == second.sales == (CURATED_ROWS, NET_REVENUE, CURATED_ROWS)


def test_postgres_keeps_the_lake_wall_clock_times(published):
    assert pg_rows(published.dsn, "SELECT MIN(invoice_ts), MAX(invoice_ts) FROM sales") == [
        (datetime(2011, 1, 10, 9, 0), datetime(2011, 2, 5, 12, 0))]


def test_each_migration_is_recorded_once(published):
    from ecomflow.stores.redshift import load_migrations

    assert pg_rows(published.dsn, "SELECT version FROM schema_migrations ORDER BY version") == [
        (m.version,) for m in load_migrations()]  # V001, V002, V003


def test_daily_revenue_by_country_view(published):
    rows = pg_rows(published.dsn, "SELECT sales_date, country, invoices, cancelled_invoices, units, "
                                  "gross_revenue, net_revenue FROM daily_revenue_by_country ORDER BY 1, 2")
    assert rows == [
        (date(2011, 1, 10), "France", 1, 0, 4, Decimal("6.000"), Decimal("6.000")),
        (date(2011, 1, 10), "United Kingdom", 1, 0, 3, Decimal("13.000"), Decimal("13.000")),
        (date(2011, 1, 11), "France", 0, 0, 1, Decimal("0"), Decimal("18.000")),  # postage is no sale
        (date(2011, 1, 11), "United Kingdom", 0, 1, -1, Decimal("0"), Decimal("-10.000")),
        (date(2011, 2, 1), "United Kingdom", 1, 0, 10, Decimal("12.500"), Decimal("12.500")),
        (date(2011, 2, 5), "United Kingdom", 1, 0, 3, Decimal("29.970"), Decimal("29.970")),
    ]


def test_customer_rfm_view(published):
    rows = pg_rows(published.dsn, "SELECT customer_id, last_purchase_ts, as_of_date, recency_days, frequency, "
                                  "cancelled_invoices, monetary FROM customer_rfm ORDER BY customer_id")
    assert rows == [
        # 1001 and 1006 bought, C1003 returned 10.000: 3 + 10 - 10 + 29.97
        ("100", datetime(2011, 2, 5, 12, 0), date(2011, 2, 5), 0, 2, 1, Decimal("32.970")),
        # postage (1004) is neither a purchase nor monetary; Jan 10 -> Feb 5 is 26 days
        ("200", datetime(2011, 1, 10, 15, 30), date(2011, 2, 5), 26, 1, 0, Decimal("6.000")),
    ]


def test_query_monthly_revenue_through_the_catalog(local_stack, published, capsys):
    assert cli_main(["query", "monthly_revenue", "--database", published.database, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["year"], r["month"], r["invoices"], r["customers"], Decimal(r["gross_revenue"]),
             Decimal(r["cancelled_revenue"]), Decimal(r["net_revenue"])) for r in rows] == [
        (2011, 1, 2, 2, Decimal("19"), Decimal("-10"), Decimal("27")),
        (2011, 2, 2, 1, Decimal("42.47"), Decimal("0"), Decimal("42.47")),  # 1005 has no customer
    ]


def test_sql_command_reads_the_quarantine_table(local_stack, published, capsys):
    sql = "SELECT reason, COUNT(*) AS n FROM ecomflow.sales_quarantine GROUP BY reason"
    assert cli_main(["sql", sql, "--database", published.database, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"reason": "zero_quantity", "n": 1}]


def test_lake_and_postgres_agree_on_rfm_inputs(local_stack, published, capsys):
    assert cli_main(["query", "rfm_inputs", "--database", published.database, "--json"]) == 0
    athena = [(r["customer_id"], r["recency_days"], r["frequency"], Decimal(r["monetary"]))
              for r in json.loads(capsys.readouterr().out)]
    assert athena == [tuple(row) for row in pg_rows(
        published.dsn, "SELECT customer_id, recency_days, frequency, monetary FROM customer_rfm ORDER BY 1")]
