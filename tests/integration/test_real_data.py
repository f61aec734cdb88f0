"""Facts only the real Online Retail file shows (skipped where ../shared/data is absent)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ecomflow.app.batch_job import publish_gate
from ecomflow.config import parse_batch_config
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime

pytestmark = [pytest.mark.integration, pytest.mark.realdata]


@pytest.fixture(scope="module")
def real_run(spark, local_stack, real_data, tmp_path_factory):
    """The one run of the job on the real file, with the quality gate and its default limits."""
    lake = tmp_path_factory.mktemp("real") / "lake"
    config = parse_batch_config(["batch", "--input", str(real_data), "--lake", str(lake)])
    return lake, run_batch(Runtime(spark=spark), config, gate=publish_gate(config))


def test_real_file_passes_the_gate_with_its_defaults(real_run):
    _, report = real_run
    assert report.published and report.quality["success"] is True and report.quality["failed"] == []
    assert (report.invoice_ts_min, report.invoice_ts_max) == ("2010-12-01 08:26:00", "2011-12-09 12:50:00")
    assert (report.mojibake_lines, report.control_char_lines) == (0, 0)


def test_real_file_row_accounting(real_run):
    _, report = real_run
    assert report.rows_read == 541_909
    assert report.duplicates_dropped == 5_268
    assert report.rows_quarantined == 0
    assert report.rows_curated == 541_909 - 5_268
    assert report.line_types["cancellation"] == 9_251


def test_real_file_thirteen_month_partitions(real_run):
    _, report = real_run
    expected = ["year=2010/month=12"] + [f"year=2011/month={m}" for m in range(1, 13)]
    assert report.partitions_written == expected


def test_real_lake_agrees_with_report_through_its_snapshot(lake_sql, real_run):
    lake, report = real_run
    rows, revenue, bad_ids, months = lake_sql(
        lake, "curated", "count(*), sum(revenue), count(*) filter (where customer_id like '%.%'), "
                         "count(distinct (year, month))").fetchone()
    assert (rows, Decimal(revenue), bad_ids, months) == (536_641, Decimal("9726006.954"), 0, 13)
    assert rows == report.rows_curated and Decimal(revenue) == Decimal(report.revenue_curated)
    assert set(report.snapshots) == {"sales"}  # nothing quarantined: the quarantine table got no commit


def test_real_invoice_stockcode_pairs_keep_every_line(local_stack, real_run):
    from ecomflow.analytics.explore import open_lake

    lake, _ = real_run
    repeated = open_lake(lake).connection.execute(
        "select count(*) from (select invoice_no, stock_code from sales group by 1, 2 having count(*) > 1)"
    ).fetchone()[0]
    assert repeated > 0


def test_a_second_run_of_the_real_file_adds_no_row(spark, lake_sql, real_run, real_data):
    lake, first = real_run
    config = parse_batch_config(["batch", "--input", str(real_data), "--lake", str(lake)])
    second = run_batch(Runtime(spark=spark), config, gate=publish_gate(config))
    assert second.published and second.rows_curated == first.rows_curated  # read and classified again...
    assert lake_sql(lake, "curated", "count(*), count(distinct record_id)").fetchone() == (536_641, 536_641)
