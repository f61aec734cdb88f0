"""The cleaning transforms, each on a tiny inline DataFrame."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.config import CleaningRules
from ecomflow.contract import RAW_FIELDS
from ecomflow.spark.schemas import CURATED_SCHEMA
from ecomflow.spark.transforms import (
    classify_lines,
    drop_duplicate_lines,
    duplicate_group,
    parse_raw_lines,
    to_curated,
    to_quarantine,
    type_fields,
    with_line_type,
    with_lineage,
    with_partitions,
)

RULES = CleaningRules()
RAW_SCHEMA = ", ".join(f"{name} string" for name in RAW_FIELDS)
GOOD = ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "12/1/2010 8:26", "2.55", "17850",
        "United Kingdom")


def raw_df(spark, *rows):
    return spark.createDataFrame(list(rows), RAW_SCHEMA).withColumn("raw_line", F.lit("line"))


def with_field(index: int, value):
    row = list(GOOD)
    row[index] = value
    return tuple(row)


def test_parse_raw_lines_splits_quoted_fields(spark):
    lines = spark.createDataFrame([('536365,22,"BOX, ""RED""",6,12/1/2010 8:26,2.55,17850,United Kingdom',)],
                                  "raw_line string")
    row = parse_raw_lines(lines).first()
    assert row["parse_error"] is None
    assert [row[f] for f in RAW_FIELDS] == ["536365", "22", 'BOX, "RED"', "6", "12/1/2010 8:26", "2.55", "17850",
                                            "United Kingdom"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("536365,22,BOX,6,12/1/2010 8:26,2.55,17850", "wrong_field_count"),
        ("536365,22,BOX,6,12/1/2010 8:26,2.55,17850,United Kingdom,extra", "wrong_field_count"),
        (',22,BOX,6,12/1/2010 8:26,2.55,17850', "wrong_field_count"),
        ('536365,22,"BOX,6,12/1/2010 8:26,2.55,17850,United Kingdom', "malformed_csv"),
    ],
)
def test_parse_raw_lines_flags_bad_structure_and_keeps_no_fields(spark, line, error):
    row = parse_raw_lines(spark.createDataFrame([(line,)], "raw_line string")).first()
    assert row["parse_error"] == error
    assert all(row[f] is None for f in RAW_FIELDS)
    assert row["raw_line"] == line


def test_type_fields_normalises_and_types_a_good_line(spark):
    raw = raw_df(spark, (" 536365 ", " 85123a ", " WHITE HEART  ", " 6 ", "12/1/2010 8:26", " 2.55 ", "17850.0",
                         " United Kingdom "))
    typed = type_fields(raw, RULES).select("invoice_no", "stock_code", "description", "quantity", "unit_price",
                                           "revenue", "invoice_ts", "customer_id", "country", "reason")
    expected = raw.sparkSession.createDataFrame(
        [("536365", "85123A", "WHITE HEART", 6, Decimal("2.550"), Decimal("15.300"), datetime(2010, 12, 1, 8, 26),
          "17850", "United Kingdom", None)],
        "invoice_no string, stock_code string, description string, quantity int, unit_price decimal(12,3), "
        "revenue decimal(18,3), invoice_ts timestamp, customer_id string, country string, reason string",
    )
    assert_df_equality(typed, expected, ignore_nullable=True)


def test_type_fields_keeps_empty_optional_fields_as_null(spark):
    row = type_fields(raw_df(spark, with_field(2, "  ") [:6] + ("", "France")), RULES).first()
    assert (row["description"], row["customer_id"], row["reason"]) == (None, None, None)


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (0, " ", "missing_invoice_no"),
        (1, "", "missing_stock_code"),
        (7, None, "missing_country"),
        (3, "six", "bad_quantity"),
        (3, "6.5", "bad_quantity"),
        (3, "99999999999", "bad_quantity"),
        (3, "0", "zero_quantity"),
        (5, "2,55", "bad_unit_price"),
        (5, "12345678901.5", "bad_unit_price"),
        (5, "-1.5", "negative_price"),
        (4, "2/30/2011 8:26", "bad_invoice_date"),
        (4, "2011-02-01 08:26", "bad_invoice_date"),
        (6, "17850.5", "bad_customer_id"),
        (6, "'; DROP TABLE sales;--", "bad_customer_id"),
    ],
)
def test_type_fields_names_the_broken_rule(spark, index, value, reason):
    assert type_fields(raw_df(spark, with_field(index, value)), RULES).first()["reason"] == reason


def test_negative_price_is_allowed_on_adjustments(spark):
    row = type_fields(raw_df(spark, ("A563186", "B", "Adjust bad debt", "1", "8/12/2011 14:51", "-11062.06", "",
                                     "United Kingdom")), RULES).first()
    assert row["reason"] is None and row["unit_price"] == Decimal("-11062.060")


def test_revenue_overflow_is_quarantined_not_wrapped(spark):
    row = type_fields(raw_df(spark, with_field(3, "2147483647")[:5] + ("999999999", "17850", "UK")), RULES).first()
    assert row["reason"] == "revenue_overflow"


def test_parse_error_wins_over_field_rules(spark):
    lines = spark.createDataFrame([("only,three,fields",)], "raw_line string")
    assert type_fields(parse_raw_lines(lines), RULES).first()["reason"] == "wrong_field_count"


@pytest.mark.parametrize(
    ("invoice_no", "stock_code", "quantity", "expected"),
    [
        ("C536379", "D", -1, "cancellation"),
        ("A563186", "B", 1, "adjustment"),
        ("536380", "POST", -3, "stock_adjustment"),
        ("536380", "POST", 3, "service"),
        ("536380", "BANK CHARGES", 1, "service"),
        ("536380", "85123A", 6, "sale"),
    ],
)
def test_line_type_first_match_wins(spark, invoice_no, stock_code, quantity, expected):
    df = spark.createDataFrame([(invoice_no, stock_code, quantity, None)],
                               "invoice_no string, stock_code string, quantity int, reason string")
    assert with_line_type(df, RULES).first()["line_type"] == expected


def test_service_codes_are_configurable(spark):
    df = spark.createDataFrame([("536380", "GIFT", 1, None)],
                               "invoice_no string, stock_code string, quantity int, reason string")
    assert with_line_type(df, CleaningRules(service_codes=("GIFT",))).first()["line_type"] == "service"


def test_record_id_depends_on_normalised_values_only(spark):
    padded = (" 536365", "85123a ", "WHITE HANGING HEART T-LIGHT HOLDER  ", "6", "12/1/2010 8:26", "2.550",
              "17850.0", "United Kingdom")
    other = with_field(3, "7")
    ids = [r["record_id"] for r in classify_lines(raw_df(spark, GOOD, padded, other), RULES).collect()]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    assert len(ids[0]) == 64


def test_record_id_is_null_and_quarantine_id_set_on_bad_lines(spark):
    row = classify_lines(raw_df(spark, with_field(3, "0")), RULES).first()
    assert row["record_id"] is None and row["quarantine_id"] is not None and row["line_type"] is None


def test_with_partitions_from_invoice_ts(spark):
    df = spark.createDataFrame([(datetime(2011, 12, 9, 12, 50),)], "invoice_ts timestamp")
    row = with_partitions(df).first()
    assert (row["year"], row["month"]) == (2011, 12)


def test_drop_duplicate_lines_keeps_first_and_counts(spark):
    df = spark.createDataFrame(
        [("r1", None, "first", 1), ("r1", None, "second", 2), ("r2", None, "other", 3), (None, "q1", "bad", 4),
         (None, "q1", "bad", 5)],
        "record_id string, quarantine_id string, raw_line string, line_no long",
    )
    result = drop_duplicate_lines(df).orderBy("raw_line")
    expected = spark.createDataFrame(
        [("q1", "bad", 2), ("r1", "first", 2), ("r2", "other", 1)],
        "key string, raw_line string, line_count int",
    )
    actual = result.select(F.coalesce("record_id", "quarantine_id").alias("key"), "raw_line", "line_count")
    assert_df_equality(actual, expected, ignore_nullable=True)


# The same valid line written five ways (padding, quotes, a float customer id, lower-case stock code),
# plus a quoted invoice number holding a comma, twice with different padding.
SAME_LINE_WRITTEN_DIFFERENTLY = [
    "536365,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "  536365  ,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    '"536365",85123a,WHITE HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom',
    '" 536365",85123A,"WHITE HEART",6,12/1/2010 8:26,2.55,17850,United Kingdom',
    '"536365 ",85123A, WHITE HEART ,6,12/1/2010 8:26,2.55,17850,United Kingdom',
]
COMMA_IN_INVOICE = [
    '"53,6365",85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom',
    '"  53,6365 ",85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom',
]


def test_duplicate_group_is_equal_for_every_line_with_the_same_record_id(spark):
    lines = spark.createDataFrame([(line,) for line in SAME_LINE_WRITTEN_DIFFERENTLY + COMMA_IN_INVOICE],
                                  "raw_line string")
    rows = (
        classify_lines(parse_raw_lines(lines.withColumn("group", duplicate_group(F.col("raw_line")))), RULES)
        .select("record_id", "reason", "group")
        .collect()
    )
    valid, comma = rows[:len(SAME_LINE_WRITTEN_DIFFERENTLY)], rows[len(SAME_LINE_WRITTEN_DIFFERENTLY):]
    assert all(row["reason"] is None for row in valid)
    assert {(row["record_id"], row["group"]) for row in valid} == {(valid[0]["record_id"], "536365")}
    # An invoice number is ASCII letters and digits (the contract's grammar): a comma is not one.
    assert [row["reason"] for row in comma] == ["bad_invoice_no", "bad_invoice_no"]


def test_drop_duplicate_lines_within_partitioned_groups_needs_no_second_shuffle(spark):
    lines = spark.createDataFrame([(line, n) for n, line in enumerate(SAME_LINE_WRITTEN_DIFFERENTLY)],
                                  "raw_line string, line_no long")
    grouped = lines.withColumn("_group", duplicate_group(F.col("raw_line"))).repartition(4, "_group")
    deduped = classify_lines(parse_raw_lines(grouped), RULES).transform(drop_duplicate_lines, within="_group")
    plan = deduped._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange") == 1
    rows = deduped.collect()
    assert [(r["invoice_no"], r["line_count"]) for r in rows] == [("536365", 5)]
    assert "_group" not in deduped.columns


def test_to_curated_states_the_contract_schema(spark):
    classified = classify_lines(raw_df(spark, GOOD), RULES).transform(
        with_lineage, "s3://raw/file.csv", datetime(2026, 1, 1))
    curated = to_curated(classified)
    assert [(f.name, f.dataType) for f in curated.schema] == [(f.name, f.dataType) for f in CURATED_SCHEMA]
    assert curated.count() == 1 and to_quarantine(classified).count() == 0


def test_to_quarantine_keeps_raw_text_and_reason(spark):
    lines = spark.createDataFrame([("bad,line",)], "raw_line string")
    classified = classify_lines(parse_raw_lines(lines), RULES).transform(with_lineage, "f.csv", datetime(2026, 1, 1))
    row = to_quarantine(classified).first()
    assert (row["raw_line"], row["reason"], row["source"]) == ("bad,line", "wrong_field_count", "f.csv")
    assert to_curated(classified).count() == 0
    assert isinstance(to_quarantine(classified).schema["ingested_at"].dataType, T.TimestampType)


def test_raw_text_is_kept_only_on_quarantined_lines(spark):
    lines = spark.createDataFrame([(",".join(GOOD),), ("bad,line",)], "raw_line string")
    rows = classify_lines(parse_raw_lines(lines), RULES).select("reason", "raw_line").collect()
    assert {(r["reason"], r["raw_line"]) for r in rows} == {(None, None), ("wrong_field_count", "bad,line")}
