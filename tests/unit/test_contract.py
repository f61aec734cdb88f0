"""The data contract: one set of bounds, grammars and text rules for the API, the job and the stores."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from ecomflow import contract
from ecomflow.config import CleaningRules
from ecomflow.spark.transforms import classify_lines, parse_raw_lines

GOOD = {"InvoiceNo": "536365", "StockCode": "85123A", "Description": "WHITE HANGING HEART T-LIGHT HOLDER",
        "Quantity": "6", "InvoiceDate": "12/1/2010 8:26", "UnitPrice": "2.55", "CustomerID": "17850",
        "Country": "United Kingdom"}

# (field, value, the reason the job quarantines it with): each one the API must refuse too.
HOSTILE = [
    ("InvoiceNo", "\uff15\uff13\uff16\uff13\uff16\uff15", "bad_invoice_no"),  # full-width digits
    ("InvoiceNo", "5" * 33, "bad_invoice_no"),
    ("InvoiceNo", "53,6365", "bad_invoice_no"),
    ("InvoiceNo", "536365\x00", "bad_characters"),
    ("StockCode", "85123#EVIL", "bad_stock_code"),  # would forge the Invoice sort key
    ("StockCode", "8" * 1100, "bad_stock_code"),
    ("StockCode", "85123\u00e9", "bad_stock_code"),
    ("Description", "x" * 500_000, "description_too_long"),
    ("Description", "\u00e9" * 513, "description_too_long"),  # 513 characters, 1,026 bytes
    ("Description", "RED\x07BOX", "bad_characters"),
    ("Description", "HEART \ufffd", "bad_characters"),  # bytes the reader could not decode
    ("Description", "BOX\u0085RED", "bad_characters"),  # a C1 control inside the text
    ("Country", "U" * 129, "country_too_long"),
    ("Country", "United\u0000Kingdom", "bad_characters"),
    ("CustomerID", "1" * 25, "bad_customer_id"),
    ("CustomerID", "17850.5", "bad_customer_id"),
    ("Quantity", "99999999999", "bad_quantity"),
]


def classified(spark, rows: list[dict], path: str):
    """`rows` through the job's rules as the streaming job (JSON records) or the batch job (CSV lines) reads them."""
    if path == "stream":
        frame = spark.createDataFrame(rows).select(*contract.RAW_FIELDS)
        frame = frame.withColumn("raw_line", F.to_json(F.struct(*contract.RAW_FIELDS)))
    else:
        quoted = [",".join('"' + row[name].replace('"', '""') + '"' for name in contract.RAW_FIELDS) for row in rows]
        frame = parse_raw_lines(spark.createDataFrame([(line,) for line in quoted], "raw_line string"))
    return classify_lines(frame, CleaningRules()).collect()


PATHS = ["stream", "batch"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("field, value, reason", HOSTILE, ids=[f"{f}-{r}-{i}" for i, (f, _, r) in enumerate(HOSTILE)])
def test_the_api_refuses_what_the_job_quarantines_naming_the_field(spark, field, value, reason, path):
    values = {**GOOD, field: value}
    problems = contract.field_problems(values)
    assert len(problems) == 1 and problems[0].startswith(field) and len(problems[0]) < 200

    (row,) = classified(spark, [values], path)
    assert row["reason"] == reason


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("padding", ["\u00a0", "\t", " \u3000", "\ufeff", "\u2009\u2028", " "])
def test_one_whitespace_rule_in_python_and_spark(spark, padding, path):
    padded = {**GOOD, "StockCode": f"{padding}85123A{padding}", "InvoiceNo": f"536365{padding}"}
    assert contract.field_problems(padded) == []
    assert contract.trim(padded["StockCode"]) == "85123A"

    rows = classified(spark, [GOOD, padded], path)
    assert {r["reason"] for r in rows} == {None}
    assert rows[0]["record_id"] == rows[1]["record_id"]  # one line, counted once
    assert rows[1]["stock_code"] == "85123A" and rows[1]["invoice_no"] == "536365"


def test_whitespace_inside_a_value_is_kept():
    assert contract.trim("\u00a0BANK CHARGES\t") == "BANK CHARGES"
    assert contract.field_problems({**GOOD, "StockCode": "BANK CHARGES"}) == []


def test_the_real_datas_values_fit_the_contract():
    for values in ({**GOOD, "InvoiceNo": "C536379", "StockCode": "gift_0001_10"},
                   {**GOOD, "InvoiceNo": "A563185", "UnitPrice": "-11062.06", "CustomerID": ""},
                   {**GOOD, "Description": "Dotcomgiftshop Gift Voucher \u00a320.00", "CustomerID": "17850.0"}):
        assert contract.field_problems(values) == []


def test_every_reason_is_a_rule_of_the_transforms():
    import inspect

    from ecomflow.spark import transforms
    source = inspect.getsource(transforms.type_fields) + inspect.getsource(transforms.parse_raw_lines)
    assert [r for r in contract.REASONS if f'"{r}"' not in source] == []


def test_stock_codes_can_never_hold_the_sort_key_separator():
    from ecomflow.stores.dynamodb import SORT_KEY_SEPARATOR

    assert not contract.is_stock_code(f"85123{SORT_KEY_SEPARATOR}X")
    # the longest key fits DynamoDB's 1,024 bytes a sort key with room to spare
    assert contract.MAX_BYTES["StockCode"] + 1 + 64 < 1024


def test_the_lake_zones_are_spelled_once():
    from ecomflow.config import BatchConfig
    from ecomflow.stores import catalog

    layout = BatchConfig(input_uri="s3://bucket/incoming", lake_uri="s3://bucket/lake")
    tables = {spec.name: spec.location for spec in catalog.lake_tables(layout.lake_uri)}
    assert tables == {contract.CURATED_TABLE: layout.curated_uri, contract.QUARANTINE_TABLE: layout.quarantine_uri}
    assert (layout.curated_uri, layout.quarantine_uri, layout.runs_uri) == (
        "s3://bucket/lake/curated/sales", "s3://bucket/lake/quarantine/sales", "s3://bucket/lake/_runs")
