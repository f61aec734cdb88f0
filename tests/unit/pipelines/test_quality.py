"""The quality gate on tiny staged sets: a good set passes, each broken rule is named; implausible input is refused."""

from __future__ import annotations

import gzip
from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import Observation
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.config import BatchConfig, DateBound, PlausibilityLimits
from ecomflow.contract import RAW_HEADER
from ecomflow.errors import QualityGateError
from ecomflow.pipelines import quality
from ecomflow.pipelines.quality import (
    QualityGate,
    count_problems,
    file_problem,
    input_problems,
    keys_problems,
    report_problems,
    schema_problems,
    validate_curated,
)
from ecomflow.spark.readers import FileHead
from ecomflow.spark.report import RunReport, fill_report, run_metrics
from ecomflow.spark.schemas import CURATED_SCHEMA

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


def test_the_gate_records_the_result_and_raises_naming_the_failures(spark, tmp_path, monkeypatch):
    # The audit branch's rows (tests/integration/test_publish_gate.py reads a real one).
    branch_rows = staged(spark, [*GOOD, line("r1")])
    monkeypatch.setattr(quality, "read_staged_curated", lambda spark, staged_table: branch_rows)
    # 2 of 8 lines quarantined: within a limit of 50 %, so the suite runs.
    config = BatchConfig(input_uri="file:///in.csv", lake_uri=f"file://{tmp_path}",
                         plausibility=PlausibilityLimits(max_quarantine_share=0.5))
    run = _StagedRun(config, balanced_report(len(GOOD) + 1), object())
    with pytest.raises(QualityGateError, match=r"expect_column_values_to_be_unique\(record_id\)") as raised:
        QualityGate()(spark, run)
    assert raised.value.failed == ["expect_column_values_to_be_unique(record_id)"]
    assert run.report.quality["success"] is False
    assert run.report.quality["failed"] == ["expect_column_values_to_be_unique(record_id)"]


class _StagedRun:
    def __init__(self, config: BatchConfig, report: RunReport, curated: object) -> None:
        self.config = config
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


# --- plausible input: the files' heads -------------------------------------------------------

HEADER_BYTES = (RAW_HEADER + "\r\n").encode("ascii")
DATA_LINE = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"
LATIN1 = "ISO-8859-1"


def head(data: bytes, error: str | None = None) -> FileHead:
    return FileHead("file:///raw/in.csv", data, error)


@pytest.mark.parametrize("data", [
    HEADER_BYTES + DATA_LINE.encode(),
    RAW_HEADER.encode(),  # a header-only file: its lack of rows is the counts' business
    b'"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"\n',
    b"  invoiceno,stockcode,description,quantity,invoicedate,unitprice,customerid,country  \n",
], ids=["plain", "header-only", "quoted-spaced", "lower-case-padded"])
def test_a_file_that_starts_with_the_header_is_plausible(data):
    assert file_problem(head(data), LATIN1) is None


def test_a_utf8_bom_is_allowed_under_utf8_and_refused_under_latin1():
    data = b"\xef\xbb\xbf" + HEADER_BYTES
    assert file_problem(head(data), "UTF-8") is None
    assert file_problem(head(data), LATIN1, "in.csv") == (
        "input_header (in.csv: starts with a UTF-8 byte order mark: read it with --encoding UTF-8)")


def test_a_readme_is_not_raw_input():
    assert file_problem(head(b"This folder holds the raw exports.\nDo not edit.\n"), LATIN1, "readme.txt") == (
        f"input_header (readme.txt: first line 'This folder holds the raw exports.' is not the header {RAW_HEADER})")


def test_a_file_without_a_header_is_refused_even_when_its_first_line_is_data():
    assert file_problem(head(DATA_LINE.encode() + b"\n"), LATIN1, "in.csv") == (
        "input_header (in.csv: no header line, its first line is data "
        "'536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010...': "
        f"a file must start with {RAW_HEADER})")


def test_an_empty_file_has_no_header():
    assert file_problem(head(b""), LATIN1, "in.csv") == "input_header (in.csv: empty, no header line)"


def test_gzip_bytes_read_as_text_are_named():
    data = gzip.compress(HEADER_BYTES + DATA_LINE.encode())
    assert file_problem(head(data), LATIN1, "in.csv") == "input_is_text (in.csv: gzip-compressed: name it *.gz)"


def test_nul_bytes_and_utf16_are_not_text():
    assert file_problem(head(HEADER_BYTES + b"536365,\x00\x00"), LATIN1, "in.csv") == (
        "input_is_text (in.csv: not text, 2 control bytes (NUL, ...) in its first 92)")
    assert file_problem(head(b"\xff\xfe" + RAW_HEADER.encode("utf-16-le")), LATIN1, "in.csv") == (
        "input_is_text (in.csv: UTF-16 text: save it as UTF-8 or ISO-8859-1)")


def test_many_control_bytes_are_not_text():
    noisy = bytes(range(1, 9)) * 2 + b"x" * 1000  # 16 control bytes in 1,016: above 1 %
    assert file_problem(head(noisy), LATIN1, "in.csv") == (
        "input_is_text (in.csv: not text, 16 control bytes (NUL, ...) in its first 1,016)")


def test_an_unreadable_file_is_named():
    assert file_problem(head(b"", error="java.io.IOException: not in gzip format"), LATIN1, "in.csv.gz") == (
        "input_is_text (in.csv.gz: cannot be read: java.io.IOException: not in gzip format)")


def test_input_problems_name_files_relative_to_the_input_folder():
    heads = [FileHead("s3://raw/incoming/a.csv", HEADER_BYTES), FileHead("s3://raw/incoming/b/readme.txt", b"hi\n")]
    assert input_problems("s3://raw/incoming", heads, LATIN1) == [
        f"input_header (b/readme.txt: first line 'hi' is not the header {RAW_HEADER})"]


def test_no_input_files_is_refused_and_many_bad_files_are_counted_not_listed():
    assert input_problems("s3://raw/incoming", [], LATIN1) == ["input_files (no files at s3://raw/incoming)"]
    heads = [FileHead(f"s3://raw/incoming/{n}.csv", b"") for n in range(8)]
    problems = input_problems("s3://raw/incoming", heads, LATIN1)
    assert len(problems) == 6 and problems[-1] == "input_files (3 more of the 8 files)"


# --- plausible input: the counts of the staging pass ----------------------------------------

LINES_SCHEMA = ("reason string, line_count int, revenue decimal(18,3), line_type string, invoice_ts timestamp, "
                "description string, country string, raw_line string")
NOW = datetime(2026, 12, 1, 12, 0)  # `now+1d`: up to 2026-12-02 12:00
DATE_FORMAT = "M/d/yyyy H:mm"


def valid(description: str = "WHITE HANGING HEART", ts: datetime = TS, country: str = "United Kingdom") -> tuple:
    return (None, 1, Decimal("15.300"), "sale", ts, description, country, None)


def bad(raw_line: str = "536370,22728,ALARM CLOCK,24", reason: str = "wrong_field_count") -> tuple:
    return (reason, 1, None, None, None, None, None, raw_line)


def observed(spark, rows: list[tuple]) -> RunReport:
    """The report the staging pass would fill for these deduplicated lines (`run_metrics`, observed)."""
    counts = Observation("plausibility")
    spark.createDataFrame(rows, LINES_SCHEMA).observe(counts, *run_metrics()).write.format("noop").mode(
        "overwrite").save()
    return fill_report(RunReport(run_id="t", input="in.csv", lake="lake"), counts.get)


def problems(report: RunReport, encoding: str = LATIN1, date_format: str = DATE_FORMAT, **limits) -> list[str]:
    return count_problems(report, PlausibilityLimits(**limits), encoding, date_format, NOW)


def test_plausible_lines_pass_with_a_quarantine_share_at_the_limit(spark):
    report = observed(spark, [*[valid()] * 19, bad()])  # 1 of 20 = 5 %
    assert problems(report) == []
    assert (report.invoice_ts_min, report.invoice_ts_max) == ("2011-01-04 10:00:00", "2011-01-04 10:00:00")
    assert (report.mojibake_lines, report.control_char_lines) == (0, 0)


def test_a_quarantine_share_above_the_limit_names_the_top_reason_and_the_date_format(spark):
    report = observed(spark, [valid(), valid(), bad("1,2", "bad_invoice_date"), bad("3,4", "bad_invoice_date"),
                              bad()])
    assert problems(report, date_format="d/M/yyyy H:mm") == [
        "quarantine_share (60.0% of 5 lines quarantined, above --max_quarantine_share 0.05; bad_invoice_date 2, "
        "wrong_field_count 1: check --date_format ('d/M/yyyy H:mm'))"]
    assert problems(report, max_quarantine_share=0.6) == []


def test_no_line_read_is_refused(spark):
    assert problems(observed(spark, [])) == [
        "rows_read_nonzero (the input holds no data lines, only a header or nothing)"]


def test_no_line_curated_is_refused(spark):
    assert problems(observed(spark, [bad(), bad("x")])) == [
        "rows_curated_nonzero (none of the 2 lines is valid; quarantined: wrong_field_count 2: "
        "is it the Online Retail CSV (8 comma-separated fields)?)"]


def test_invoice_times_outside_the_window_are_refused(spark):
    inside = observed(spark, [valid(ts=datetime(2000, 1, 1)), valid(ts=datetime(2026, 12, 2, 11, 59))])
    assert problems(inside) == []
    outside = observed(spark, [valid(ts=datetime(1999, 12, 31, 23, 59)), valid(ts=datetime(2026, 12, 2, 12, 0))])
    assert problems(outside) == [
        "invoice_dates_plausible (curated invoice times: earliest 1999-12-31 23:59 is before --min_invoice_date "
        "2000-01-01, latest 2026-12-02 12:00 is after --max_invoice_date now+1d (2026-12-02 12:00); "
        "check --date_format ('M/d/yyyy H:mm') or set the bound)"]


def test_a_fixed_latest_day_holds_the_whole_day(spark):
    window = {"min_invoice_date": DateBound(day=date(2010, 12, 1)),
              "max_invoice_date": DateBound(day=date(2011, 12, 9))}
    assert problems(observed(spark, [valid(ts=datetime(2011, 12, 9, 23, 59))]), **window) == []
    assert problems(observed(spark, [valid(ts=datetime(2011, 12, 10))]), **window) == [
        "invoice_dates_plausible (curated invoice times: latest 2011-12-10 00:00 is after --max_invoice_date "
        "2011-12-09; check --date_format ('M/d/yyyy H:mm') or set the bound)"]


def test_utf8_read_as_latin1_is_refused_suggesting_utf8(spark):
    report = observed(spark, [*[valid()] * 50, valid("Gift Voucher \u00c2\u00a350.00"),
                              bad("536366,22633,CAF\u00c3\u0089 CR\u00c3\u0088ME,six,12/1/2010 8:28,1,,France",
                                  "bad_quantity")])
    assert report.mojibake_lines == 2
    assert problems(report) == [
        "text_encoding (2 lines with signs of a wrong encoding (Ã, Â£, U+FFFD), e.g. "
        "'536366,22633,CAFÃ\\x89 CRÃ\\x88ME,six,12/1/2010 8:28,1,,France': it looks like UTF-8 read as "
        "ISO-8859-1: read it with --encoding UTF-8)"]


def test_latin1_read_as_utf8_is_refused_suggesting_latin1(spark):
    report = observed(spark, [*[valid()] * 50, valid("Gift Voucher \ufffd50.00")])
    assert problems(report, encoding="UTF-8") == [
        "text_encoding (1 line with signs of a wrong encoding (Ã, Â£, U+FFFD), e.g. "
        "'Gift Voucher \ufffd50.00,United Kingdom': it is not valid UTF-8: read it with --encoding ISO-8859-1)"]


def test_correctly_decoded_accents_and_the_pound_sign_pass(spark):
    report = observed(spark, [valid("Gift Voucher \u00a350.00"), valid("CAF\u00c9 CR\u00c8ME"),
                              valid("S\u00c3O PAULO MUG", country="Brazil"), valid("tab\tseparated")])
    assert (report.mojibake_lines, report.control_char_lines) == (0, 0)
    assert problems(report) == []


def test_many_lines_with_control_characters_are_refused(spark):
    garbage = [bad(f"\x1f\x8b\x08\x00{n}", "wrong_field_count") for n in range(3)]
    report = observed(spark, [*[valid()] * 97, *garbage])
    assert report.control_char_lines == 3
    assert problems(report, max_quarantine_share=1.0) == [
        "text_without_control_characters (3 of 100 lines with control characters (NUL, ...): "
        "the input is not a text CSV)"]
    assert problems(observed(spark, [*[valid()] * 99, garbage[0]])) == []  # 1 %: a stray line is a field's problem


def test_the_gate_refuses_implausible_counts_before_running_the_suite(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "validate_curated", lambda *a, **k: pytest.fail("the suite ran"))
    report = RunReport(run_id="t", input="in.csv", lake="lake")  # nothing read
    run = _StagedRun(BatchConfig(input_uri="file:///in.csv", lake_uri=f"file://{tmp_path}"), report, object())
    with pytest.raises(QualityGateError, match=r"^quality gate failed: rows_read_nonzero \(") as raised:
        QualityGate()(spark, run)
    assert raised.value.failed == ["rows_read_nonzero (the input holds no data lines, only a header or nothing)"]
    assert report.quality["success"] is False and report.quality["evaluated"] == 9


def test_check_input_refuses_a_folder_with_a_readme_and_keeps_the_report(spark, tmp_path):
    (tmp_path / "in.csv").write_bytes(HEADER_BYTES + DATA_LINE.encode() + b"\n")
    (tmp_path / "readme.txt").write_text("How to export the sales\n")
    gate = QualityGate()
    config = BatchConfig(input_uri=f"file://{tmp_path}", lake_uri=f"file://{tmp_path}/lake")
    with pytest.raises(QualityGateError) as raised:
        gate.check_input(spark, config, "run-1")
    assert raised.value.failed == [
        f"input_header (readme.txt: first line 'How to export the sales' is not the header {RAW_HEADER})"]
    assert gate.last_report.run_id == "run-1" and gate.last_report.quality["failed"] == raised.value.failed
    (tmp_path / "readme.txt").unlink()
    gate.check_input(spark, config, "run-2")  # the data file alone passes
