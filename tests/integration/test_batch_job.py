"""The batch job end to end on local files: hostile input, idempotency, the lake layout."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ecomflow.config import parse_batch_config
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Each hostile line with what must become of it: a quarantine reason, or None for curated.
HOSTILE = [
    ("536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom", None),
    ('536366,22633,"HAND WARMER, ""UNION JACK""",6,12/1/2010 8:28,1.85,17850.0,United Kingdom', None),
    ("536367,GIFT_0001_20,Dotcomgiftshop Gift Voucher \u00a320.00,1,12/1/2010 9:00,17.02,,United Kingdom", None),
    ("536368,22960,JAM MAKING SET WITH JARS,6,12/1/2010 9:02,4.25,13047,United Kingdom\r", None),
    ("536369,21756,'; DROP TABLE sales; --,3,12/1/2010 9:05,5.95,13047,United Kingdom", None),
    ("536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/1/2010 8:45,3.75,12583", "wrong_field_count"),
    ("536370,22727,ALARM CLOCK,24,12/1/2010 8:45,3.75,12583,France,extra", "wrong_field_count"),
    ('536371,22086,"PAPER CHAIN KIT 50\'S CHRISTMAS ,80,12/1/2010 9:00,2.55,13748,United Kingdom', "malformed_csv"),
    ("536372,22632,HAND WARMER RED POLKA DOT,six,12/1/2010 9:01,1.85,17850,United Kingdom", "bad_quantity"),
    ("536373,82494L,WOODEN FRAME ANTIQUE WHITE,99999999999,12/1/2010 9:02,2.55,17850,United Kingdom",
     "bad_quantity"),
    ("536374,21258,VICTORIAN SEWING BOX LARGE,1,2/30/2011 9:09,10.95,15100,United Kingdom", "bad_invoice_date"),
    ("536375,71053,WHITE METAL LANTERN,6,12/1/2010 9:32,1e400,17850,United Kingdom", "bad_unit_price"),
    (",71053,WHITE METAL LANTERN,6,12/1/2010 9:32,3.39,17850,United Kingdom", "missing_invoice_no"),
    ("536376,,WHITE METAL LANTERN,6,12/1/2010 9:32,3.39,17850,United Kingdom", "missing_stock_code"),
    ("536377,71053,WHITE METAL LANTERN,6,12/1/2010 9:32,3.39,17850,  ", "missing_country"),
    ("536378,71053,WHITE METAL LANTERN,0,12/1/2010 9:32,3.39,17850,United Kingdom", "zero_quantity"),
    ("536379,71053,WHITE METAL LANTERN,1,12/1/2010 9:32,-3.39,17850,United Kingdom", "negative_price"),
    ("536380,71053,WHITE METAL LANTERN,1,12/1/2010 9:32,3.39,17850.5,United Kingdom", "bad_customer_id"),
    ("C536381,71053,WHITE METAL LANTERN,-1,1/4/2011 10:00,3.39,17850,United Kingdom", None),
]
DUPLICATE = HOSTILE[0][0]


def write_hostile_file(path: Path) -> Path:
    body = "\n".join([HEADER, *(line for line, _ in HOSTILE), DUPLICATE]) + "\n"
    path.write_bytes(body.encode("latin-1"))
    return path


def batch(spark, input_path: Path, lake: Path, *extra: str):
    config = parse_batch_config(["batch", "--input", str(input_path), "--lake", str(lake), *extra])
    return run_batch(Runtime(spark=spark), config)


@pytest.fixture(scope="module")
def hostile_run(spark, local_stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    source = write_hostile_file(tmp / "hostile.csv")
    lake = tmp / "lake"
    first = batch(spark, source, lake)
    return source, lake, first


def test_hostile_file_accounts_for_every_line(hostile_run):
    _, _, report = hostile_run
    expected_bad = [reason for _, reason in HOSTILE if reason]
    assert report.rows_read == len(HOSTILE) + 1
    assert report.duplicates_dropped == 1
    assert report.rows_quarantined == len(expected_bad)
    assert report.rows_curated == len(HOSTILE) - len(expected_bad)
    assert report.balanced
    assert report.quarantined_by_reason == {r: expected_bad.count(r) for r in sorted(set(expected_bad))}


def test_hostile_file_each_bad_line_quarantined_with_its_reason(lake_sql, hostile_run):
    _, lake, _ = hostile_run
    quarantined = dict(lake_sql(lake, "quarantine", "raw_line, reason").fetchall())
    expected = {line.rstrip("\r"): reason for line, reason in HOSTILE if reason}
    assert quarantined == expected


def test_hostile_file_good_lines_curated_with_contract_types(lake_sql, hostile_run):
    _, lake, _ = hostile_run
    types = {d[0]: str(d[1]) for d in lake_sql(lake, "curated").description}
    assert types["unit_price"] == "DECIMAL(12,3)" and types["revenue"] == "DECIMAL(18,3)"
    assert types["quantity"] == "INTEGER" and types["invoice_ts"].startswith("TIMESTAMP")
    rows = {r[0]: r for r in lake_sql(lake, "curated", "invoice_no, description, customer_id, revenue").fetchall()}
    assert rows["536366"][1:3] == ('HAND WARMER, "UNION JACK"', "17850")
    assert rows["536367"][1] == "Dotcomgiftshop Gift Voucher \u00a320.00"
    assert rows["536369"][1] == "'; DROP TABLE sales; --"
    assert rows["C536381"][3] == Decimal("-3.390")


def test_second_run_changes_nothing(local_stack, lake_sql, spark, hostile_run):
    source, lake, first = hostile_run
    before = sorted(lake_sql(lake, "curated", "record_id").fetchall())
    second = batch(spark, source, lake)
    after = sorted(lake_sql(lake, "curated", "record_id").fetchall())
    assert after == before
    assert lake_sql(lake, "quarantine", "count(*)").fetchone()[0] == first.rows_quarantined
    assert second.rows_curated == first.rows_curated


def test_run_keeps_rows_published_by_other_inputs(local_stack, lake_sql, spark, tmp_path):
    lake = tmp_path / "lake"
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text(HEADER + "\n" + HOSTILE[0][0] + "\n", encoding="latin-1")
    b.write_text(HEADER + "\n" + HOSTILE[1][0] + "\n", encoding="latin-1")
    batch(spark, a, lake)
    batch(spark, b, lake)
    assert lake_sql(lake, "curated", "count(*)").fetchone()[0] == 2


def test_utf8_with_bom_and_another_date_format(local_stack, lake_sql, spark, tmp_path):
    source = tmp_path / "utf8.csv"
    line = "536367,GIFT_0001_20,Gift Voucher \u00a320.00,1,2010-12-01 09:00,17.02,,United Kingdom"
    source.write_bytes(("\ufeff" + HEADER + "\r\n" + line + "\r\n").encode("utf-8"))
    report = batch(spark, source, tmp_path / "lake", "--encoding", "UTF-8", "--date_format", "yyyy-MM-dd HH:mm")
    assert (report.rows_read, report.rows_curated) == (1, 1)
    description = lake_sql(tmp_path / "lake", "curated", "description").fetchone()[0]
    assert description == "Gift Voucher \u00a320.00"


def test_report_is_written_as_json(spark, tmp_path):
    source = write_hostile_file(tmp_path / "in.csv")
    out = tmp_path / "report.json"
    from ecomflow.cli.main import main

    # The hostile file is mostly bad lines on purpose: the gate's quarantine limit is raised for it.
    assert main(["batch", "--input", str(source), "--lake", str(tmp_path / "lake"), "--report", str(out),
                 "--max_quarantine_share", "0.8"]) == 0
    report = json.loads(out.read_text())
    assert report["rows_read"] == report["rows_curated"] + report["rows_quarantined"] + report["duplicates_dropped"]
    assert report["partitions_written"] == ["year=2010/month=12", "year=2011/month=1"]
    assert Decimal(report["revenue_curated"]) > 0


def test_missing_input_is_a_clear_error(local_stack, spark, tmp_path):
    from ecomflow.errors import InputError

    with pytest.raises(InputError, match="cannot read input"):
        batch(spark, tmp_path / "absent.csv", tmp_path / "lake")


def test_the_report_names_the_snapshot_it_published_and_history_names_the_run(spark, local_stack, hostile_run):
    from ecomflow.stores import iceberg

    _, lake, first = hostile_run
    sales, quarantine = iceberg.open_tables(spark, lake.as_uri())
    assert set(first.snapshots) == {"sales", "sales_quarantine"} and first.audit_branch
    for table in (sales, quarantine):
        [entry] = [h for h in iceberg.history(spark, table) if h["snapshot_id"] == first.snapshots[table.name]]
        assert entry["ids"][iceberg.SUMMARY_RUN] == first.run_id
    assert iceberg.branches(spark, sales) == []  # published: the audit branch is gone


def test_a_deleted_lake_folder_is_forgotten_by_its_catalog(local_stack, spark, tmp_path, caplog):
    """`rm -rf lake` leaves the lake's catalog rows in the stack's PostgreSQL, naming files that are gone:
    the next process to open the lake (`register_catalog`) drops them, so its run starts an empty lake."""
    import shutil

    from ecomflow.local import iceberg as local_iceberg

    lake = tmp_path / "lake"
    batch(spark, write_hostile_file(tmp_path / "hostile.csv"), lake)
    names = ["sales", "sales_quarantine"]
    assert None not in local_iceberg.metadata_locations(str(lake), "ecomflow", names, local_stack.postgres).values()
    shutil.rmtree(lake)

    forgotten = local_iceberg.forget_deleted_tables(lake.as_uri(), local_stack.postgres)

    assert forgotten == ["ecomflow.sales", "ecomflow.sales_quarantine"]
    assert local_iceberg.metadata_locations(str(lake), "ecomflow", names, local_stack.postgres) == dict.fromkeys(names)
    assert "was deleted under its catalog: forgetting ecomflow.sales, ecomflow.sales_quarantine" in caplog.text
    assert local_iceberg.forget_deleted_tables(lake.as_uri(), local_stack.postgres) == []


def test_a_lake_whose_files_are_there_is_never_forgotten(local_stack, spark, hostile_run):
    from ecomflow.local import iceberg as local_iceberg

    _, lake, _ = hostile_run
    assert local_iceberg.forget_deleted_tables(lake.as_uri(), local_stack.postgres) == []
