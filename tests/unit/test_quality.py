"""The quality gate on tiny staged sets: a good set passes, each broken rule is named."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.errors import QualityGateError
from ecomflow import quality
from ecomflow.quality import QualityGate, keys_problems, report_problems, schema_problems, validate_curated
from ecomflow.report import RunReport
from ecomflow.schemas import CURATED_SCHEMA
from ecomflow.sinks.lake import StagedTable

# Files written by Spark have nullable columns, so the test frames may hold the nulls the gate must catch.
STAGED_SCHEMA = T.StructType([T.StructField(f.name, f.dataType, True) for f in CURATED_SCHEMA.fields])
TS = datetime(2011, 1, 4, 10, 0)
INGESTED = datetime(2026, 1, 1)


def line(record_id: str, *, invoice_no: str = "536365", quantity: int | None = 6,
         unit_price: str | None = "2.550", line_type: str | None = "sale", year: int = 2011, month: int = 1,
         country: str | None = "United Kingdom") -> tuple:
    price = None if unit_price is None else Decimal(unit_price)
    revenue = None if price is None or quantity is None else price * quantity
    return (record_id, invoice_no, "85123A", "WHITE HANGING HEART", quantity, price, revenue, TS, "17850",
            country, line_type, "test.csv", INGESTED, year, month)


GOOD = [
    line("r1"),
    line("r2", invoice_no="C536379", quantity=-1, line_type="cancellation"),
    line("r3", invoice_no="A563185", quantity=1, unit_price="-11062.060", line_type="adjustment"),
    line("r4", quantity=-5, unit_price="0.000", line_type="stock_adjustment"),
    line("r5", line_type="service", month=12, year=2010),
]


def staged(spark, rows: list[tuple]):
    return spark.createDataFrame(rows, STAGED_SCHEMA)


def balanced_report(curated: int = len(GOOD)) -> RunReport:
    return RunReport(run_id="t", input="in.csv", lake="lake", rows_read=curated + 3, rows_curated=curated,
                     rows_quarantined=2, duplicates_dropped=1)


def test_a_good_staged_set_passes(spark):
    result = validate_curated(staged(spark, GOOD), min_rows=len(GOOD), report=balanced_report())
    assert result.success and result.failed == ()
    assert result.evaluated == len(result.checks) and result.evaluated > 25


def test_a_null_key_is_named(spark):
    result = validate_curated(staged(spark, [*GOOD, line("r6", country=None)]))
    assert result.failed == ("expect_column_values_to_not_be_null(country)",)


def test_an_unknown_line_type_is_named(spark):
    result = validate_curated(staged(spark, [*GOOD, line("r6", line_type="refund")]))
    assert result.failed == ("expect_column_values_to_be_in_set(line_type)",)


def test_a_duplicate_record_id_is_named(spark):
    result = validate_curated(staged(spark, [*GOOD, line("r1", invoice_no="536999")]))
    assert result.failed == ("expect_column_values_to_be_unique(record_id)",)


def test_a_negative_price_is_allowed_only_on_adjustment_lines(spark):
    result = validate_curated(staged(spark, [*GOOD, line("r6", unit_price="-0.001")]))
    assert result.failed == ("expect_column_values_to_be_between(unit_price, min=0, where line_type != adjustment)",)


def test_zero_quantity_and_ranges_are_named(spark):
    rows = [*GOOD, line("r6", quantity=0), line("r7", month=13), line("r8", year=1999)]
    result = validate_curated(staged(spark, rows))
    assert set(result.failed) == {"expect_column_values_to_not_be_in_set(quantity)",
                                  "expect_column_values_to_be_between(year)",
                                  "expect_column_values_to_be_between(month)"}


def test_fewer_staged_rows_than_the_run_curated_are_named(spark):
    result = validate_curated(staged(spark, GOOD), min_rows=len(GOOD) + 1)
    assert result.failed == (f"expect_table_row_count_to_be_between(min={len(GOOD) + 1})",)


def test_an_unbalanced_report_is_named(spark):
    report = balanced_report()
    report.duplicates_dropped += 1
    result = validate_curated(staged(spark, GOOD), report=report)
    assert len(result.failed) == 1 and result.failed[0].startswith("report_rows_balanced (rows_read 8 != ")


def test_wrong_column_order_and_decimal_precision_are_named(spark):
    df = staged(spark, GOOD).withColumn("unit_price", F.col("unit_price").cast("decimal(10,2)"))
    result = validate_curated(df.select("invoice_no", *[c for c in df.columns if c != "invoice_no"]))
    assert set(result.failed) == {"expect_table_columns_to_match_ordered_list",
                                  "expect_column_type_to_equal(unit_price: decimal(10,2) != decimal(12,3))"}


def test_schema_problems_compare_decimal_precision_exactly():
    wrong = T.StructType([T.StructField("revenue", T.DecimalType(12, 3))])
    assert schema_problems(wrong) == ["expect_column_type_to_equal(revenue: decimal(12,3) != decimal(18,3))"]


def test_report_problems_are_empty_for_a_balanced_report():
    assert report_problems(balanced_report()) == []


def test_the_gate_records_the_result_and_raises_naming_the_failures(spark, tmp_path):
    uri = f"file://{tmp_path}/staged"
    staged(spark, [*GOOD, line("r1")]).write.partitionBy("year", "month").parquet(uri)
    run = _StagedRun(balanced_report(len(GOOD) + 1),
                     StagedTable(uri, f"file://{tmp_path}/published", ("year=2010/month=12", "year=2011/month=1")))
    with pytest.raises(QualityGateError, match=r"expect_column_values_to_be_unique\(record_id\)") as raised:
        QualityGate()(spark, run)
    assert raised.value.failed == ["expect_column_values_to_be_unique(record_id)"]
    assert run.report.quality["success"] is False
    assert run.report.quality["failed"] == ["expect_column_values_to_be_unique(record_id)"]


class _StagedRun:
    def __init__(self, report: RunReport, curated: StagedTable) -> None:
        self.report = report
        self.curated = curated


def test_key_check_settles_colliding_hashes_on_the_ids_themselves(spark, monkeypatch):
    # Every id hashes alike, as in a 64-bit collision: the ids themselves decide.
    monkeypatch.setattr(quality.F, "xxhash64", lambda column: F.lit(7))
    unique = spark.createDataFrame([("a",), ("b",), (None,)], "record_id string")
    repeated = spark.createDataFrame([("a",), ("b",), ("a",)], "record_id string")
    assert keys_problems(unique) == []
    assert keys_problems(repeated) == ["expect_column_values_to_be_unique(record_id)"]


def test_key_check_ignores_nulls_and_finds_repeats(spark):
    assert keys_problems(spark.createDataFrame([("a",), (None,), (None,)], "record_id string")) == []
    assert keys_problems(spark.createDataFrame([("a",), ("a",)], "record_id string")) != []
