"""The summary in words that `ecomflow batch` and `stream` end with."""

from __future__ import annotations

from ecomflow.cli.summary import batch_summary, elapsed, partition_span, pounds, stream_summary

REPORT = {
    "run_id": "20261203T110618Z-7ac7e7a6", "input": "file:///tmp/r.csv", "lake": "file:///tmp/lake",
    "rows_read": 5000, "rows_curated": 4949, "rows_quarantined": 2, "duplicates_dropped": 49,
    "quarantined_by_reason": {"malformed_csv": 1, "wrong_field_count": 1}, "revenue_curated": "70014.610",
    "line_types": {"sale": 4836, "cancellation": 85, "adjustment": 1, "stock_adjustment": 8, "service": 19},
    "partitions_written": ["year=2010/month=12", "year=2011/month=1", "year=2011/month=12"],
    "quarantine_partitions_written": ["reason=malformed_csv", "reason=wrong_field_count"],
    "published": True,
    "quality": {"success": True, "evaluated": 42, "failed": [], "seconds": 9.864, "suite": "curated_sales_staged"},
}


def test_pounds_have_separators_two_decimals_and_a_leading_minus():
    assert pounds("70014.610") == "£70,014.61"
    assert pounds("-12.5") == "-£12.50"
    assert pounds(None) == "£0.00"
    assert pounds("n/a") == "n/a"


def test_elapsed_time_reads_as_seconds_minutes_or_hours():
    assert elapsed(4.24) == "4.2 s"
    assert elapsed(65) == "1 min 05 s"
    assert elapsed(3725) == "1 h 02 min"


def test_partition_span_is_the_first_and_last_month():
    assert partition_span(REPORT["partitions_written"]) == "2010-12 to 2011-12"
    assert partition_span(["year=2011/month=3"]) == "2011-03"
    assert partition_span([]) == ""


def test_a_published_run_is_said_in_words():
    text = batch_summary(REPORT, 42.04, published=True, report_places=["/tmp/report.json"])
    assert text.splitlines() == [
        "Published run 20261203T110618Z-7ac7e7a6 to /tmp/lake in 42.0 s.",
        "Read 5,000 rows: 4,949 curated, 2 quarantined (malformed_csv 1, wrong_field_count 1), "
        "49 duplicates dropped.",
        "Curated revenue £70,014.61 (net: sales and service lines less cancellations and adjustments); lines by "
        "type: sale 4,836, cancellation 85, service 19, stock_adjustment 8, adjustment 1.",
        "Wrote 3 curated partitions (2010-12 to 2011-12) and 2 quarantine partitions.",
        "Quality gate passed: 42 checks in 9.9 s.",
        "Full report: /tmp/report.json",
    ]


def test_a_run_the_gate_stopped_says_nothing_was_published_and_why():
    failed = {**REPORT, "published": False, "quality": {"success": False, "evaluated": 9,
                                                          "failed": ["quarantine_share: 80 % > 5 %"]}}
    text = batch_summary(failed, 12.0, published=False)
    assert text.startswith("Not published: run 20261203T110618Z-7ac7e7a6 stopped at the quality gate after 12.0 s; "
                           "the lake /tmp/lake is unchanged.")
    assert "Quality gate FAILED: 1 of 9 checks failed (quarantine_share: 80 % > 5 %)." in text
    assert "Wrote" not in text


def test_a_run_without_a_report_still_says_how_long_it_took():
    text = batch_summary(None, 3.0, published=False)
    assert text == "Not published: the run stopped before it counted anything (3.0 s)."


def test_unbalanced_accounting_is_called_out():
    assert "WARNING: 1 row unaccounted for." in batch_summary({**REPORT, "rows_read": 5001}, 1.0, True)


def test_the_gate_off_is_said():
    assert "Quality gate off" in batch_summary({**REPORT, "quality": {}}, 1.0, True, gate_enabled=False)


def test_stream_totals_in_words():
    assert stream_summary({"batches": 1, "lines": 500, "curated": 499, "quarantined": 1}, 5.0) == (
        "Stream job ended after 1 micro-batch in 5.0 s: 500 lines read, 499 curated, 1 quarantined.")


def test_a_run_stopped_before_reading_says_only_why():
    stopped = {**REPORT, "rows_read": 0, "rows_curated": 0, "rows_quarantined": 0, "duplicates_dropped": 0,
               "published": False, "quality": {"success": False, "evaluated": 3, "failed": ["in.csv: no header"]}}
    assert batch_summary(stopped, 2.0, published=False).splitlines() == [
        "Not published: run 20261203T110618Z-7ac7e7a6 stopped at the quality gate after 2.0 s; the lake /tmp/lake "
        "is unchanged.",
        "Quality gate FAILED: 1 of 3 checks failed (in.csv: no header).",
    ]


def test_an_incremental_run_with_nothing_new_says_so_and_not_published():
    nothing = {"run_id": "r2", "lake": "file:///tmp/lake", "rows_read": 0, "inputs_skipped": 3, "published": False,
               "quality": {}}
    text = batch_summary(nothing, 2.0, published=True, report_places=["/tmp/r.json"])
    assert text.splitlines()[0] == ("Nothing new: earlier runs read every input file (3, the lake's ledger says); "
                                    "run r2 read and published nothing (2.0 s); the lake /tmp/lake is unchanged.")
    assert "Published" not in text
    some = dict(REPORT, inputs_skipped=2)
    assert "2 input files left out: read by earlier runs (--incremental on)." in batch_summary(some, 1.0, True)
