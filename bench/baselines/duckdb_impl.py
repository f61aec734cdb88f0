"""The batch rules in DuckDB: the single-machine floor.

One typed temporary table, the report counts as SQL, and `COPY ... PARTITION_BY` for the lake.

Run: `python -m bench.baselines.duckdb_impl --input FILE --out DIR`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb

from bench.baselines import CUSTOMER_ID, FIELD_SEPARATOR, INTEGER, PRICE, SERVICE_CODES, print_counts


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def typed_lines_sql(path: str) -> str:
    services = ", ".join(sql_text(c) for c in SERVICE_CODES)
    sep = sql_text(FIELD_SEPARATOR)
    return f"""
    CREATE TEMP TABLE lines AS
    WITH raw AS (
      SELECT nullif(trim(InvoiceNo), '') AS invoice_no,
             upper(nullif(trim(StockCode), '')) AS stock_code,
             nullif(trim(Description), '') AS description,
             nullif(trim(Quantity), '') AS quantity_text,
             nullif(trim(UnitPrice), '') AS price_text,
             nullif(trim(InvoiceDate), '') AS date_text,
             nullif(trim(CustomerID), '') AS customer_text,
             nullif(trim(Country), '') AS country
      FROM read_csv({sql_text(path)}, header = true, all_varchar = true, encoding = 'latin-1',
                    delim = ',', quote = '"', escape = '"')
    ), typed AS (
      SELECT invoice_no, stock_code, description,
             CASE WHEN regexp_full_match(quantity_text, {sql_text(INTEGER[1:-1])})
                  THEN try_cast(quantity_text AS INTEGER) END AS quantity,
             CASE WHEN regexp_full_match(price_text, {sql_text(PRICE[1:-1])})
                  THEN try_cast(price_text AS DECIMAL(12, 3)) END AS unit_price,
             try_strptime(date_text, '%m/%d/%Y %H:%M') AS invoice_ts,
             customer_text,
             CASE WHEN regexp_full_match(customer_text, {sql_text(CUSTOMER_ID[1:-1])})
                  THEN regexp_extract(customer_text, {sql_text(CUSTOMER_ID)}, 1) END AS customer_id,
             country
      FROM raw
    )
    SELECT invoice_no, stock_code, description, quantity, unit_price,
           CAST(quantity * unit_price AS DECIMAL(18, 3)) AS revenue, invoice_ts, customer_id, country,
           CASE WHEN invoice_no IS NULL THEN 'missing_invoice_no'
                WHEN stock_code IS NULL THEN 'missing_stock_code'
                WHEN country IS NULL THEN 'missing_country'
                WHEN quantity IS NULL THEN 'bad_quantity'
                WHEN quantity = 0 THEN 'zero_quantity'
                WHEN unit_price IS NULL THEN 'bad_unit_price'
                WHEN unit_price < 0 AND NOT starts_with(invoice_no, 'A') THEN 'negative_price'
                WHEN invoice_ts IS NULL THEN 'bad_invoice_date'
                WHEN customer_text IS NOT NULL AND customer_id IS NULL THEN 'bad_customer_id'
           END AS reason,
           CASE WHEN starts_with(invoice_no, 'C') THEN 'cancellation'
                WHEN starts_with(invoice_no, 'A') THEN 'adjustment'
                WHEN quantity < 0 THEN 'stock_adjustment'
                WHEN stock_code IN ({services}) THEN 'service'
                ELSE 'sale' END AS line_type,
           sha256(concat_ws({sep}, coalesce(invoice_no, ''), coalesce(stock_code, ''),
                            coalesce(description, ''), coalesce(CAST(quantity AS VARCHAR), ''),
                            coalesce(CAST(unit_price AS VARCHAR), ''),
                            coalesce(strftime(invoice_ts, '%Y-%m-%d %H:%M:%S'), ''),
                            coalesce(customer_id, ''), coalesce(country, ''))) AS record_id,
           year(invoice_ts) AS year, month(invoice_ts) AS month,
           {sql_text(path)} AS source, now()::TIMESTAMP AS ingested_at
    FROM typed
    """


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "quarantine" / "sales").mkdir(parents=True)
    (out / "curated").mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(typed_lines_sql(args.input))
    con.execute("""
        CREATE TEMP TABLE curated AS
        SELECT * EXCLUDE (reason) FROM lines WHERE reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY record_id) = 1
    """)
    rows_read, rows_quarantined, rows_valid = con.execute(
        "SELECT count(*), count(reason), count(*) - count(reason) FROM lines").fetchone()
    rows_curated = con.execute("SELECT count(*) FROM curated").fetchone()[0]
    line_types = dict(con.execute("SELECT line_type, count(*) FROM curated GROUP BY 1").fetchall())
    con.execute(f"COPY curated TO {sql_text(str(out / 'curated' / 'sales'))} "
                "(FORMAT parquet, PARTITION_BY (year, month))")
    con.execute(f"COPY (SELECT invoice_no, stock_code, reason, source, ingested_at FROM lines "
                f"WHERE reason IS NOT NULL) TO {sql_text(str(out / 'quarantine' / 'sales' / 'part-0.parquet'))} "
                "(FORMAT parquet)")
    print_counts(rows_read, rows_curated, rows_quarantined, rows_valid - rows_curated, line_types)
    return 0


if __name__ == "__main__":
    sys.exit(main())
