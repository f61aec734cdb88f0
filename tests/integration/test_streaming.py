"""The streaming path through the real moto server and PostgreSQL: API -> Kinesis -> runner -> stores."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from ecomflow import aws
from ecomflow.api.access import Role
from ecomflow.app import stream_job
from ecomflow.config import StreamConfig, parse_batch_config, to_uri
from ecomflow.contract import RAW_FIELDS
from ecomflow.devtools.replay import replay_file
from ecomflow.devtools.stream_demo import http_get, lambda_environment
from ecomflow.devtools.users import local_token
from ecomflow.local.api_local import start_api
from ecomflow.local.postgres_target import PostgresTarget
from ecomflow.local.stream_runner import CheckpointStore, StreamRunner
from ecomflow.pipelines import stream_batch, stream_sinks
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime
from ecomflow.spark.schemas import CURATED_SCHEMA
from ecomflow.stores import dynamodb, iceberg, kinesis

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    # the same (InvoiceNo, StockCode) on two distinct lines: both must be kept
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/1/2010 8:26,2.55,17850,United Kingdom",
    '536366,22633,"HAND WARMER, ""UNION JACK""",6,12/1/2010 8:28,1.85,17850.0,United Kingdom',
    "536367,GIFT_0001_20,Dotcomgiftshop Gift Voucher \u00a320.00,1,12/1/2010 9:00,17.02,,United Kingdom",
    "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527,United Kingdom",
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,-11062.06,,United Kingdom",
    "536378,71053,WHITE METAL LANTERN,0,1/4/2011 9:32,3.39,17850,United Kingdom",   # zero_quantity
    "536374,21258,VICTORIAN SEWING BOX LARGE,1,2/30/2011 9:09,10.95,15100,United Kingdom",  # bad date
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",  # duplicate
]
DISTINCT_VALID = 6
BUSINESS = [c for c in CURATED_SCHEMA.fieldNames() if c not in ("source", "ingested_at")]


def write_csv(path: Path) -> Path:
    path.write_bytes(("\n".join([HEADER, *LINES]) + "\n").encode("latin-1"))
    return path


class Setup:
    """A fresh stream, tables, lake, checkpoint and PostgreSQL database for one test."""

    def __init__(self, tmp: Path, pg) -> None:
        tag = uuid.uuid4().hex[:8]
        self.config = StreamConfig(stream_name=f"records-{tag}", lake_uri=to_uri(str(tmp / "lake")),
                                   checkpoint_uri=str(tmp / "checkpoint"), invoice_table=f"Invoice-{tag}",
                                   customer_table=f"Customer-{tag}", max_records_per_shard=1000)
        self.ddb = aws.client("dynamodb")
        self.kinesis = aws.client("kinesis")
        kinesis.ensure_stream(self.kinesis, self.config.stream_name, shards=2)
        dynamodb.ensure_tables(self.ddb, self.config.invoice_table, self.config.customer_table)
        self.pg = pg
        self.target = PostgresTarget(pg.dsn)
        self.source = write_csv(tmp / "lines.csv")

    def sinks(self, *extra):
        return (*stream_job.default_sinks(self.config, redshift_target=self.target), *extra)

    def replay(self) -> dict:
        with lambda_environment(self.config.stream_name, self.config.invoice_table, self.config.customer_table):
            api = start_api()
            try:
                return replay_file(self.source, api.url, rate=10_000, progress=False,
                                   token=local_token(Role.PRODUCER)).to_dict()
            finally:
                api.stop()

    def runner(self, spark, sinks=None) -> StreamRunner:
        return StreamRunner(spark, self.config, kinesis=self.kinesis, sinks=sinks or self.sinks())

    def tables(self, spark):
        return iceberg.open_tables(spark, self.config.lake_uri, self.config.lake_database)

    def curated(self, spark):
        """The streamed lake's committed curated rows."""
        return iceberg.read_table(spark, self.tables(spark)[0])

    def quarantine(self, spark):
        return iceberg.read_table(spark, self.tables(spark)[1])

    def invoice_items(self) -> list[dict]:
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.config.invoice_table)
        return [dynamodb.from_attributes(i) for page in pages for i in page["Items"]]

    def warehouse_ids(self) -> list[str]:
        with psycopg.connect(self.pg.dsn) as conn:
            return [r[0] for r in conn.execute("SELECT record_id FROM sales ORDER BY record_id").fetchall()]


@pytest.fixture
def setup(local_stack, pg_database, tmp_path) -> Setup:
    return Setup(tmp_path, pg_database)


def test_streamed_lines_match_the_batch_job_and_reach_every_store(spark, setup, tmp_path):
    replayed = setup.replay()
    assert replayed["accepted"] == len(LINES) and replayed["rejected"] == 0
    results = setup.runner(spark).run(until_idle=True)
    assert sum(r.lines for r in results) == len(LINES)

    batch_lake = tmp_path / "batch-lake"
    run_batch(Runtime(spark=spark), parse_batch_config(["batch", "--input", str(setup.source), "--lake",
                                                        str(batch_lake)]))
    batch_rows = iceberg.read_table(spark, iceberg.open_tables(spark, to_uri(str(batch_lake)))[0])
    streamed = sorted(setup.curated(spark).select(BUSINESS).collect())
    assert len(streamed) == DISTINCT_VALID
    assert streamed == sorted(batch_rows.select(BUSINESS).collect())

    record_ids = sorted(r["record_id"] for r in streamed)
    items = setup.invoice_items()
    assert sorted(i["record_id"] for i in items) == record_ids
    assert setup.warehouse_ids() == record_ids

    with lambda_environment(setup.config.stream_name, setup.config.invoice_table, setup.config.customer_table):
        api = start_api()
        analyst = local_token(Role.ANALYST)
        try:
            status, pair = http_get(f"{api.url}/invoices/536365/items/85123A", analyst)
            assert status == 200 and sorted(line["quantity"] for line in pair["lines"]) == [2, 6]
            status, cancelled = http_get(f"{api.url}/invoices/C536379", analyst)
            assert status == 200 and cancelled["lines"][0]["line_type"] == "cancellation"
            status, customer = http_get(f"{api.url}/customers/17850/invoices", analyst)
            assert status == 200 and [i["invoice_no"] for i in customer["invoices"]] == ["536365", "536366"]
            assert customer["invoices"][0]["total_quantity"] == 8
            assert http_get(f"{api.url}/invoices/999999", analyst)[0] == 404
        finally:
            api.stop()

    # the same file again, end to end: nothing is duplicated anywhere
    setup.replay()
    setup.runner(spark).run(until_idle=True)
    assert sorted(setup.curated(spark).select(BUSINESS).collect()) == streamed
    assert sorted(i["record_id"] for i in setup.invoice_items()) == record_ids
    assert setup.warehouse_ids() == record_ids


def test_a_crash_after_some_sinks_before_the_checkpoint_loses_and_doubles_nothing(spark, setup):
    setup.replay()

    def killed(batch: stream_batch.StreamBatch) -> None:
        raise KeyboardInterrupt("runner killed after the lake and DynamoDB were written")

    lake_and_dynamodb = stream_job.default_sinks(setup.config)  # no Redshift: it never got there
    with pytest.raises(KeyboardInterrupt):
        setup.runner(spark, sinks=(*lake_and_dynamodb, killed)).run(until_idle=True)
    assert setup.curated(spark).count() == DISTINCT_VALID  # the lake was written...
    assert not CheckpointStore(setup.config.checkpoint_uri).path.exists()  # ...the checkpoint was not

    results = setup.runner(spark).run(until_idle=True)  # restart: replays batch 0
    assert [r.batch_id for r in results] == [0]
    assert results[0].written["lake_curated"] == 0  # everything was already there
    curated = setup.curated(spark)
    record_ids = sorted(r["record_id"] for r in curated.select("record_id").collect())
    assert len(record_ids) == len(set(record_ids)) == DISTINCT_VALID
    assert sorted(i["record_id"] for i in setup.invoice_items()) == record_ids
    assert setup.warehouse_ids() == record_ids
    checkpoint = json.loads(CheckpointStore(setup.config.checkpoint_uri).path.read_text())
    assert checkpoint["batch_id"] == 1 and checkpoint["positions"]
    assert setup.runner(spark).run(until_idle=True) == []  # nothing left to read


def test_stream_demo_reads_a_streamed_invoice_back(spark, local_stack, tmp_path):
    from ecomflow.devtools.stream_demo import run_stream_demo

    tag = uuid.uuid4().hex[:8]
    summary = run_stream_demo(spark, write_csv(tmp_path / "lines.csv"), str(tmp_path / "lake"), tmp_path / "cp",
                              rows=5, stream_name=f"demo-{tag}", invoice_table=f"Invoice-{tag}",
                              customer_table=f"Customer-{tag}", progress=False)
    assert summary["replay"]["accepted"] == 5
    assert sum(b["lines"] for b in summary["batches"]) == 5
    assert summary["get_invoice"]["invoice_no"] == "536365" and summary["get_invoice"]["status"] == 200
    assert summary["get_invoice"]["lines"] == 2


# --- poison records: each inside a normal batch; the normal records reach every store ----------

GOOD_FIELDS = dict(zip(RAW_FIELDS, ("900001", "85123A", "WHITE HEART", "6", "12/1/2010 8:26", "2.55", "17850",
                                    "United Kingdom"), strict=True))
# (what any producer may write straight to the stream, the reason it is quarantined with)
POISON = [
    ({"Description": "x" * 500_000}, "description_too_long"),  # DynamoDB: item over 400 KB
    ({"StockCode": "S" * 1100}, "bad_stock_code"),  # DynamoDB: a range key over 1,024 bytes
    ({"InvoiceNo": "9" * 40}, "bad_invoice_no"),  # Redshift: VARCHAR(32)
    ({"Description": "WHITE\x00HEART"}, "bad_characters"),  # Redshift/PostgreSQL: NUL
    ({"Country": "United Kingdom\x00"}, "bad_characters"),
    ({"StockCode": "85123#EVIL"}, "bad_stock_code"),  # would forge the Invoice sort key
    ({"InvoiceNo": "\uff19\uff10\uff10\uff10\uff10\uff12"}, "bad_invoice_no"),  # full-width digits
    ({"Description": "\ud800"}, "bad_characters"),  # a lone surrogate from a JSON escape
    ({"CustomerID": "1" * 25}, "bad_customer_id"),
]


def poison_bytes(fields: dict) -> bytes:
    return json.dumps({**GOOD_FIELDS, **fields}).encode("utf-8")  # json escapes NUL and the surrogate


def test_no_poison_record_stops_the_stream_and_the_normal_records_reach_every_store(spark, setup):
    from ecomflow.stores.kinesis import KinesisEntry

    normal = [{**GOOD_FIELDS, "InvoiceNo": f"90{i:04d}", "Quantity": str(i + 1)} for i in range(len(POISON) + 1)]
    entries = []
    for i, (fields, _) in enumerate(POISON):  # poison and normal records interleaved, on one shard
        entries.append(KinesisEntry(json.dumps(normal[i]).encode(), "same-shard"))
        entries.append(KinesisEntry(poison_bytes(fields), "same-shard"))
    entries.append(KinesisEntry(json.dumps(normal[-1]).encode(), "same-shard"))
    # the same line as normal[0] with a no-break space after its stock code: one line, not two
    entries.append(KinesisEntry(json.dumps({**normal[0], "StockCode": "85123A\u00a0"}).encode(), "same-shard"))
    kinesis.put_records(setup.kinesis, setup.config.stream_name, entries)

    results = setup.runner(spark).run(until_idle=True)

    assert sum(r.lines for r in results) == len(entries)
    assert CheckpointStore(setup.config.checkpoint_uri).load(setup.config.stream_name).batch_id == len(results)
    curated_ids = sorted(r["record_id"] for r in setup.curated(spark).select("record_id").collect())
    assert len(curated_ids) == len(normal)
    assert sorted(i["record_id"] for i in setup.invoice_items()) == curated_ids
    assert setup.warehouse_ids() == curated_ids
    quarantine = setup.quarantine(spark).collect()
    assert sorted(r["reason"] for r in quarantine) == sorted(reason for _, reason in POISON)
    assert sum(r.duplicates_dropped for r in results) == 1


def test_a_huge_invoice_keeps_a_small_customer_summary(spark, setup):
    from ecomflow.stores.kinesis import KinesisEntry

    lines = 3000
    entries = [KinesisEntry(json.dumps({**GOOD_FIELDS, "StockCode": f"C{i:05d}"}).encode(), "900001")
               for i in range(lines)]
    kinesis.put_records(setup.kinesis, setup.config.stream_name, entries)
    config = setup.config
    runner = StreamRunner(spark, replace(config, max_records_per_shard=500), kinesis=setup.kinesis,
                          sinks=stream_job.default_sinks(config))
    results = runner.run(until_idle=True)

    assert len(results) == lines // 500 and sum(r.curated for r in results) == lines
    (summary,) = setup.ddb.scan(TableName=config.customer_table)["Items"]
    assert summary["line_count"] == {"N": str(lines)} and summary["item_count"] == {"N": str(lines)}
    assert len(json.dumps(summary)) < 1000  # no list of the invoice's lines: 400 KB is far away


def test_replay_and_stream_curate_what_batch_curates_from_a_file_with_malformed_lines(spark, setup, tmp_path):
    """Unbalanced quotes included: replay splits lines as the batch reader does, so no line swallows the next."""
    from ecomflow.devtools.generate import generate_file

    setup.source = tmp_path / "generated.csv"
    generated = generate_file(str(setup.source), rows=3000, seed=7, malformed_rate=0.02)
    assert generated.malformed["unbalanced_quote"] > 0
    replayed = setup.replay()
    assert replayed["read"] == replayed["accepted"] + replayed["rejected"] == generated.rows
    assert replayed["rejected_by_reason"]["malformed_csv"] == generated.malformed["unbalanced_quote"]
    setup.runner(spark, sinks=(stream_sinks.save_lake,)).run(until_idle=True)

    batch_lake = tmp_path / "batch-lake"
    report = run_batch(Runtime(spark=spark), parse_batch_config(["batch", "--input", str(setup.source), "--lake",
                                                                 str(batch_lake)]))
    batch_curated = iceberg.read_table(spark, iceberg.open_tables(spark, to_uri(str(batch_lake)))[0])
    batch_ids = {r["record_id"] for r in batch_curated.select("record_id").collect()}
    streamed_ids = {r["record_id"] for r in setup.curated(spark).select("record_id").collect()}
    assert report.rows_read == replayed["read"]
    assert len(batch_ids) == report.rows_curated
    assert streamed_ids == batch_ids
