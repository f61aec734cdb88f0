"""Athena SQL on DuckDB: the named query files, the Trino rewrites, views over catalog tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ecomflow.errors import ConfigError
from ecomflow.local.athena_local import LocalAthena, duckdb_type, load_query, named_queries, to_duckdb, view_sql
from ecomflow.stores import catalog

EXPECTED_QUERIES = {"monthly_revenue", "top_products", "cancellation_rate", "revenue_by_country", "rfm_inputs"}


def sales_table(location: str) -> dict:
    """A GetTables entry as the catalog sink writes it: an Iceberg table, here with nothing published yet."""
    spec = catalog.lake_tables(location)[0]
    return {**catalog.table_input(spec), "DatabaseName": "ecomflow"}


def hive_sales_table(location: str) -> dict:
    """A plain Hive parquet table of the lake's columns (Athena reads those too): partition keys apart."""
    spec = catalog.lake_tables(location)[0]
    columns = catalog.columns(spec)
    return {"Name": "sales", "DatabaseName": "ecomflow", "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet"},
            "PartitionKeys": [c for c in columns if c["Name"] in spec.partition_keys],
            "StorageDescriptor": {"Location": spec.location,
                                  "Columns": [c for c in columns if c["Name"] not in spec.partition_keys]}}


def test_the_bi_questions_are_there():
    assert EXPECTED_QUERIES <= set(named_queries())


@pytest.mark.parametrize("name", sorted(EXPECTED_QUERIES))
def test_each_query_file_is_standalone_athena_sql_over_ecomflow_sales(name):
    sql = load_query(name)
    assert "ecomflow.sales" in sql
    assert ";" not in sql  # one statement, as an Athena named query holds


@pytest.mark.parametrize("name", sorted(EXPECTED_QUERIES))
def test_each_query_prepares_on_duckdb_against_the_catalog_schema(name, tmp_path):
    athena = LocalAthena()
    athena.add_table(sales_table(f"file://{tmp_path}/lake"))  # no files yet: an empty typed view
    athena.connection.execute("PREPARE q AS " + to_duckdb(load_query(name)))
    assert athena.sql(load_query(name)).rows == []


def test_unknown_query_names_the_known_ones():
    with pytest.raises(ConfigError, match="monthly_revenue"):
        load_query("montly_revenue")


def test_rewrites_trino_functions_and_database():
    sql = "SELECT approx_distinct(customer_id), from_iso8601_timestamp('2011-01-01T00:00:00') FROM ecomflow.sales;"
    assert to_duckdb(sql, "analytics") == (
        "SELECT approx_count_distinct(customer_id), CAST('2011-01-01T00:00:00' AS TIMESTAMP) FROM analytics.sales")


def test_glue_types_map_to_duckdb():
    assert duckdb_type("decimal(12,3)") == "DECIMAL(12,3)"
    assert duckdb_type("timestamp") == "TIMESTAMP"
    assert duckdb_type("int") == "INTEGER"
    assert duckdb_type("string") == "VARCHAR"


def test_integer_division_truncates_as_in_trino():
    assert LocalAthena().sql("SELECT 7 / 2 AS q").rows == [(3,)]


def test_view_reads_hive_partitions_with_catalog_types(tmp_path):
    athena = LocalAthena()
    lake = tmp_path / "lake"
    for month, revenue in ((1, "3.500"), (2, "10.250")):
        folder = lake / "curated" / "sales" / "year=2011" / f"month={month}"
        folder.mkdir(parents=True)
        athena.connection.execute(
            f"COPY (SELECT 'r{month}' AS record_id, 'i' AS invoice_no, 'A' AS stock_code, NULL AS description, "
            f"1 AS quantity, CAST(1 AS DECIMAL(12,3)) AS unit_price, CAST('{revenue}' AS DECIMAL(18,3)) AS revenue, "
            f"TIMESTAMP '2011-0{month}-01 09:00:00' AS invoice_ts, '100' AS customer_id, 'UK' AS country, "
            f"'sale' AS line_type, 'f.csv' AS source, TIMESTAMP '2024-01-01' AS ingested_at) "
            f"TO '{folder}/part-0.parquet' (FORMAT parquet)")
    athena.connection.execute(view_sql("ecomflow", hive_sales_table(f"file://{lake}")))
    result = athena.sql("SELECT year, month, SUM(revenue) AS revenue FROM ecomflow.sales GROUP BY 1, 2 ORDER BY 2")
    assert result.rows == [(2011, 1, Decimal("3.500")), (2011, 2, Decimal("10.250"))]
    assert result.records()[0] == {"year": 2011, "month": 1, "revenue": "3.500"}


def test_an_unknown_table_lists_the_tables_there_are(tmp_path):
    from ecomflow.errors import InputError

    athena = LocalAthena()
    for spec in catalog.lake_tables(str(tmp_path / "lake")):
        athena.add_table(catalog.table_input(spec))
    with pytest.raises(InputError) as raised:
        athena.sql("SELECT * FROM nope")
    assert str(raised.value) == "query failed: no table nope; the tables are: ecomflow.sales, ecomflow.sales_quarantine"
    assert "pg_enum" not in str(raised.value)
