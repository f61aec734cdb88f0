"""The run page's HTML, without a browser: numbers, checks with their results, escaping."""

from __future__ import annotations

import json

import pytest

from ecomflow.analytics.run_page import checks_table, pounds, render_page, write_run_page
from ecomflow.errors import InputError

REPORT = {"run_id": "r1", "input": "file:///in.csv", "lake": "file:///lake", "rows_read": 1200, "rows_curated": 1100,
          "rows_quarantined": 50, "duplicates_dropped": 50, "revenue_curated": "12345.678",
          "quarantined_by_reason": {"bad_quantity": 50}, "line_types": {"sale": 1100}, "partitions_written": ["a"],
          "published": True,
          "quality": {"success": True, "evaluated": 2, "failed": [], "seconds": 1.0, "suite": "s",
                      "checks": ["expect_column_values_to_not_be_null(record_id)", "report_rows_balanced"]}}


def test_pounds_are_exact_to_the_penny():
    assert pounds("12345.678") == "£12,345.68" and pounds("-1") == "-£1.00"


def test_the_page_has_the_numbers_and_every_check_passed():
    page = render_page(REPORT, [("Revenue by month", "<svg></svg>")])
    assert ">1,200<" in page and ">1,100<" in page and "£12,345.68" in page
    assert page.count('<td class="pass">passed</td>') == 2 and "published" in page
    assert '<figure id="chart-0">' in page


def test_a_failed_check_is_marked_with_its_reason():
    quality = {**REPORT["quality"], "success": False, "failed": ["report_rows_balanced: 3 rows unaccounted"]}
    table = checks_table(quality)
    assert '<td class="fail">failed</td><td>report_rows_balanced: 3 rows unaccounted</td>' in table
    assert table.count('class="pass"') == 1


def test_text_from_the_data_is_escaped():
    hostile = {**REPORT, "input": "file:///<script>alert(1)</script>.csv"}
    page = render_page(hostile, [])
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_lake_without_runs_is_a_clear_error(tmp_path):
    (tmp_path / "lake" / "curated" / "sales").mkdir(parents=True)
    with pytest.raises(InputError, match="no run report in"):
        write_run_page(tmp_path / "lake")


def test_an_unknown_run_lists_the_runs(tmp_path):
    (tmp_path / "lake" / "curated" / "sales").mkdir(parents=True)
    (tmp_path / "lake" / "_reports" / "r1").mkdir(parents=True)
    (tmp_path / "lake" / "_reports" / "r1" / "report.json").write_text(json.dumps(REPORT))
    with pytest.raises(InputError, match="its runs are: r1"):
        write_run_page(tmp_path / "lake", "r2")


def test_the_page_of_an_empty_lake_is_written_without_charts(tmp_path, local_stack):
    (tmp_path / "lake" / "curated" / "sales").mkdir(parents=True)
    (tmp_path / "lake" / "_reports" / "r1").mkdir(parents=True)
    (tmp_path / "lake" / "_reports" / "r1" / "report.json").write_text(json.dumps(REPORT))
    page = write_run_page(tmp_path / "lake")
    assert page == tmp_path / "lake" / "_reports" / "r1" / "index.html"
    assert "r1" in page.read_text()


def test_an_s3_lake_gets_its_page_in_the_bucket(monkeypatch):
    from moto import mock_aws

    from ecomflow import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for run in ("r0", "r1"):
            s3.put_object(Bucket="lake", Key=f"prod/_reports/{run}/report.json",
                          Body=json.dumps({**REPORT, "run_id": run}).encode())
        where = write_run_page("s3://lake/prod", charts=False)
        assert where == "s3://lake/prod/_reports/r1/index.html"
        page = s3.get_object(Bucket="lake", Key="prod/_reports/r1/index.html")
        assert page["ContentType"].startswith("text/html") and b"r1" in page["Body"].read()
        with pytest.raises(InputError, match="no run report at s3://lake/prod/_reports/r9/report.json"):
            write_run_page("s3://lake/prod", "r9", charts=False)
