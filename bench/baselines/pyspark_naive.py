"""The straightforward PySpark job a typical Glue developer writes for the same rules.

Deliberately idiomatic-but-naive, as seen in most Glue repositories: `spark.read.csv` with
`header` and `inferSchema` (an extra pass over the file), a `withColumn` chain, a `cache()`,
several actions for the report counts, `dropDuplicates`, partitioned parquet. It keeps a 4 GB
driver (ours runs with 2 GB since 2026-12-01): it caches the whole input, and a smaller heap
would only slow it down and flatter our ratios. The time zone is ours too; everything else is
Spark's default (200 shuffle partitions, AQE on as in Spark 3.5).

Run: `python -m bench.baselines.pyspark_naive --input FILE --out DIR`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bench.baselines import CUSTOMER_ID, FIELD_SEPARATOR, INTEGER, PRICE, SERVICE_CODES, print_counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--master", default=os.environ.get("BENCH_SPARK_MASTER", "local[*]"))
    args = parser.parse_args(argv)

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master(args.master).appName("naive-etl")
        .config("spark.driver.memory", "4g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")

    df = (
        spark.read.option("header", True).option("inferSchema", True)
        .option("encoding", "ISO-8859-1").csv(args.input)
    )
    # inferSchema types Quantity as int, UnitPrice as double and CustomerID as double (17850.0):
    # the usual fix-ups follow. Strings are cast back where the rules need the text.
    df = (
        df.withColumn("invoice_no", F.trim(F.col("InvoiceNo").cast("string")))
        .withColumn("stock_code", F.upper(F.trim(F.col("StockCode").cast("string"))))
        .withColumn("description", F.trim(F.col("Description")))
        .withColumn("quantity_text", F.trim(F.col("Quantity").cast("string")))
        .withColumn("quantity", F.when(F.col("quantity_text").rlike(INTEGER),
                                       F.col("quantity_text").cast("int")))
        .withColumn("price_text", F.trim(F.col("UnitPrice").cast("decimal(12,3)").cast("string")))
        .withColumn("unit_price", F.when(F.col("price_text").rlike(PRICE),
                                         F.col("price_text").cast("decimal(12,3)")))
        .withColumn("revenue", (F.col("quantity") * F.col("unit_price")).cast("decimal(18,3)"))
        .withColumn("invoice_ts", F.to_timestamp(F.trim(F.col("InvoiceDate").cast("string")), "M/d/yyyy H:mm"))
        .withColumn("customer_text", F.trim(F.col("CustomerID").cast("string")))
        .withColumn("customer_id", F.when(F.col("customer_text").rlike(CUSTOMER_ID),
                                          F.regexp_extract("customer_text", CUSTOMER_ID, 1)))
        .withColumn("country", F.trim(F.col("Country")))
        .withColumn("description", F.when(F.col("description") != "", F.col("description")))
        .withColumn("reason", F.when(F.col("invoice_no").isNull() | (F.col("invoice_no") == ""), "missing_invoice_no")
                    .when(F.col("stock_code").isNull() | (F.col("stock_code") == ""), "missing_stock_code")
                    .when(F.col("country").isNull() | (F.col("country") == ""), "missing_country")
                    .when(F.col("quantity").isNull(), "bad_quantity")
                    .when(F.col("quantity") == 0, "zero_quantity")
                    .when(F.col("unit_price").isNull(), "bad_unit_price")
                    .when((F.col("unit_price") < 0) & ~F.col("invoice_no").startswith("A"), "negative_price")
                    .when(F.col("invoice_ts").isNull(), "bad_invoice_date")
                    .when(F.col("customer_text").isNotNull() & F.col("customer_id").isNull(), "bad_customer_id"))
        .withColumn("line_type", F.when(F.col("invoice_no").startswith("C"), "cancellation")
                    .when(F.col("invoice_no").startswith("A"), "adjustment")
                    .when(F.col("quantity") < 0, "stock_adjustment")
                    .when(F.col("stock_code").isin(*SERVICE_CODES), "service")
                    .otherwise("sale"))
        .withColumn("record_id", F.sha2(F.concat_ws(
            FIELD_SEPARATOR, *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in (
                "invoice_no", "stock_code", "description", "quantity", "unit_price")],
            F.date_format("invoice_ts", "yyyy-MM-dd HH:mm:ss"),
            F.coalesce(F.col("customer_id"), F.lit("")), F.col("country")), 256))
        .withColumn("year", F.year("invoice_ts"))
        .withColumn("month", F.month("invoice_ts"))
        .withColumn("source", F.input_file_name())
        .withColumn("ingested_at", F.current_timestamp())
    )
    df.cache()

    rows_read = df.count()
    valid = df.filter(F.col("reason").isNull())
    quarantined = df.filter(F.col("reason").isNotNull())
    rows_quarantined = quarantined.count()
    rows_valid = valid.count()
    curated = valid.dropDuplicates(["record_id"]).select(
        "record_id", "invoice_no", "stock_code", "description", "quantity", "unit_price", "revenue",
        "invoice_ts", "customer_id", "country", "line_type", "source", "ingested_at", "year", "month")
    rows_curated = curated.count()
    line_types = {r["line_type"]: r["count"] for r in curated.groupBy("line_type").count().collect()}
    curated.write.mode("overwrite").partitionBy("year", "month").parquet(f"{args.out}/curated/sales")
    quarantined.select("invoice_no", "stock_code", "reason", "source", "ingested_at").write.mode(
        "overwrite").parquet(f"{args.out}/quarantine/sales")
    print_counts(rows_read, rows_curated, rows_quarantined, rows_valid - rows_curated, line_types)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
