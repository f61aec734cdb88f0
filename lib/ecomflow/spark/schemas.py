"""Schemas as code: the curated `sales` table and the quarantine layout.

The raw fields, the reasons and the line types are facts of `ecomflow.contract`.
"""

from __future__ import annotations

from pyspark.sql import types as T

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
