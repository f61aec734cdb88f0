"""Schemas as code: the raw header, the curated `sales` contract and the quarantine layout."""

from __future__ import annotations

from pyspark.sql import types as T

RAW_FIELDS: tuple[str, ...] = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
RAW_HEADER = ",".join(RAW_FIELDS)

PRICE_TYPE = T.DecimalType(12, 3)
REVENUE_TYPE = T.DecimalType(18, 3)

CURATED_SCHEMA = T.StructType([
    T.StructField("record_id", T.StringType(), False),
    T.StructField("invoice_no", T.StringType(), False),
    T.StructField("stock_code", T.StringType(), False),
    T.StructField("description", T.StringType(), True),
    T.StructField("quantity", T.IntegerType(), False),
    T.StructField("unit_price", PRICE_TYPE, False),
    T.StructField("revenue", REVENUE_TYPE, False),
    T.StructField("invoice_ts", T.TimestampType(), False),
    T.StructField("customer_id", T.StringType(), True),
    T.StructField("country", T.StringType(), False),
    T.StructField("line_type", T.StringType(), False),
    T.StructField("source", T.StringType(), False),
    T.StructField("ingested_at", T.TimestampType(), False),
    T.StructField("year", T.IntegerType(), False),
    T.StructField("month", T.IntegerType(), False),
])
CURATED_COLUMNS: tuple[str, ...] = tuple(CURATED_SCHEMA.fieldNames())
CURATED_PARTITIONS: tuple[str, ...] = ("year", "month")

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("quarantine_id", T.StringType(), False),
    T.StructField("raw_line", T.StringType(), False),
    T.StructField("reason", T.StringType(), False),
    T.StructField("source", T.StringType(), False),
    T.StructField("ingested_at", T.TimestampType(), False),
])
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(QUARANTINE_SCHEMA.fieldNames())
QUARANTINE_PARTITIONS: tuple[str, ...] = ("reason",)

LINE_TYPES: tuple[str, ...] = ("cancellation", "adjustment", "stock_adjustment", "service", "sale")

# Quarantine reason codes, in the order the rules are checked (the first failing one is kept).
REASONS: tuple[str, ...] = (
    "malformed_csv",
    "wrong_field_count",
    "missing_invoice_no",
    "missing_stock_code",
    "missing_country",
    "bad_quantity",
    "zero_quantity",
    "bad_unit_price",
    "negative_price",
    "bad_invoice_date",
    "bad_customer_id",
    "revenue_overflow",
)
