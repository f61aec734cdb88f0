"""Column helpers, each checked on a handful of literal values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from ecomflow.spark import columns as C


def _apply(spark, fn, values):
    df = spark.createDataFrame([(v,) for v in values], "v string")
    return [r[0] for r in df.select(fn(F.col("v"))).collect()]


def test_blank_as_null_trims_and_nulls_empty(spark):
    assert _apply(spark, C.blank_as_null, ["  a b ", "", "   ", None]) == ["a b", None, None, None]


def test_to_int_strict_rejects_decimals_text_and_overflow(spark):
    values = ["6", "-12", "+3", "6.0", "6.5", "abc", "2147483647", "2147483648", "99999999999999999999", ""]
    assert _apply(spark, C.to_int_strict, values) == [6, -12, 3, None, None, None, 2147483647, None, None, None]


def test_to_price_is_exact_and_bounded(spark):
    values = ["2.55", "18", "-11062.06", ".5", "0.001", "1.2345", "1e3", "1234567890", "abc"]
    expected = [Decimal("2.550"), Decimal("18.000"), Decimal("-11062.060"), Decimal("0.500"), Decimal("0.001"),
                None, None, None, None]
    assert _apply(spark, C.to_price, values) == expected


def test_to_customer_id_gives_digits_only(spark):
    values = ["17850", "17850.0", "17850.00", "17850.5", "abc", "1e4"]
    assert _apply(spark, C.to_customer_id, values) == ["17850", "17850", "17850", None, None, None]


@pytest.mark.parametrize(
    ("line", "well_formed", "fields"),
    [
        ('a,b,c', True, ["a", "b", "c"]),
        ('a,,c', True, ["a", "", "c"]),
        ('a,"b, with comma",c', True, ["a", '"b, with comma"', "c"]),
        ('a,"say ""hi""",c', True, ["a", '"say ""hi"""', "c"]),
        ('a,"unbalanced,c', False, None),
        ('a,mid"quote,c', False, None),
        (',', True, ["", ""]),
    ],
)
def test_csv_line_syntax_and_fields(spark, line, well_formed, fields):
    row = spark.createDataFrame([(line,)], "v string").select(
        C.is_well_formed_csv(F.col("v")).alias("ok"), C.csv_fields(F.col("v")).alias("fields")
    ).first()
    assert row["ok"] is well_formed
    if well_formed:
        assert row["fields"] == fields


def test_unquote_csv_field_unescapes_doubled_quotes(spark):
    assert _apply(spark, C.unquote_csv_field, ['"say ""hi"", ok"', "plain", '""']) == ['say "hi", ok', "plain", ""]


def test_first_failing_returns_first_true_rule_name(spark):
    df = spark.createDataFrame([(1,), (5,), (20,)], "n int")
    rule = C.first_failing([("small", F.col("n") < 3), ("medium", F.col("n") < 10), ("odd", F.col("n") % 2 == 1)])
    assert [r[0] for r in df.select(rule).collect()] == ["small", "medium", None]


def test_has_mojibake_finds_utf8_read_as_latin1_and_replacement_characters(spark):
    values = ["Gift Voucher \u00c2\u00a350.00", "CAF\u00c3\u0089 CR\u00c3\u0088ME", "Voucher \ufffd10.00",
              "Gift Voucher \u00a350.00", "CAF\u00c9 CR\u00c8ME", "S\u00c3O PAULO", "\u00c2ge", "plain", None]
    assert _apply(spark, C.has_mojibake, values) == [True, True, True, False, False, False, False, False, None]


def test_has_control_characters_finds_nul_and_c0_but_not_tab(spark):
    values = ["a\x00b", "\x1f\x8b\x08", "bell\x07", "del\x7f", "tab\there", "\u0089 is C1, not C0", None]
    assert _apply(spark, C.has_control_characters, values) == [True, True, True, True, False, False, None]
