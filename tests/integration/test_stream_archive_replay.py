"""The stream's raw archive rebuilds the lake: stream -> (local Firehose) archive -> `ecomflow batch`.

Records go onto the moto Kinesis stream as the ingest Lambda puts them; the streaming job (the
local shard poller) curates them into one lake, the local Firehose stand-in archives them, and the
batch job reads the archive back (`--input_format stream-archive`) into a second lake: the same
record_ids, the same quarantine reasons; replayed into the stream's own lake it adds nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest

from ecomflow import aws
from ecomflow.api import ingest
from ecomflow.app import stream_job
from ecomflow.app.entry import run_batch_entry
from ecomflow.config import StreamConfig, to_uri
from ecomflow.local.stream_archive_local import archive_consumer
from ecomflow.local.stream_runner import StreamRunner
from ecomflow.stores import dynamodb, iceberg, kinesis, stream_archive

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/1/2010 8:26,2.55,17850,United Kingdom",
    '536366,22633,"HAND WARMER, ""UNION JACK""",6,12/1/2010 8:28,1.85,17850.0,United Kingdom',
    "536367,GIFT_0001_20,Dotcomgiftshop Gift Voucher \u00a320.00,1,12/1/2010 9:00,17.02,,United Kingdom",
    "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527,United Kingdom",
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,-11062.06,,United Kingdom",
    "536370,22728,  ALARM CLOCK BAKELIKE PINK  ,24,12/1/2010 8:45,3.75,12583,France",
    "536378,71053,WHITE METAL LANTERN,0,1/4/2011 9:32,3.39,17850,United Kingdom",   # zero_quantity
    "536374,21258,VICTORIAN SEWING BOX LARGE,1,2/30/2011 9:09,10.95,15100,United Kingdom",  # bad date
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",  # duplicate
]


def curated_ids(spark, lake: str) -> list[str]:
    """The record_ids of the lake's committed curated rows (its Iceberg table)."""
    curated, _ = iceberg.open_tables(spark, lake)
    return sorted(r["record_id"] for r in iceberg.read_table(spark, curated).select("record_id").collect())


def quarantine_reasons(spark, lake: str) -> Counter:
    _, quarantine = iceberg.open_tables(spark, lake)
    return Counter(r["reason"] for r in iceberg.read_table(spark, quarantine).select("reason").collect())


@pytest.fixture
def streamed(spark, local_stack, tmp_path):
    """LINES sent as the ingest Lambda sends them, curated by the streaming job and archived by the stand-in."""
    tag = uuid.uuid4().hex[:8]
    config = StreamConfig(stream_name=f"records-{tag}", lake_uri=to_uri(str(tmp_path / "stream-lake")),
                          checkpoint_uri=str(tmp_path / "stream-ckpt"), invoice_table=f"Invoice-{tag}",
                          customer_table=f"Customer-{tag}")
    client = aws.client("kinesis")
    kinesis.ensure_stream(client, config.stream_name, shards=2)
    dynamodb.ensure_tables(aws.client("dynamodb"), config.invoice_table, config.customer_table)
    records = ingest.parse_records("\n".join([HEADER, *LINES]) + "\n", "text/csv")
    ingest.send_records(records, config.stream_name, client)

    StreamRunner(spark, config, kinesis=client, sinks=stream_job.default_sinks(config)).run(until_idle=True)
    objects = archive_consumer(config.stream_name, str(tmp_path / "raw"), str(tmp_path / "archive-ckpt"),
                               kinesis=client).run()
    return config, objects, tmp_path


def test_the_archive_keeps_every_record_the_stream_carried(streamed):
    config, objects, tmp = streamed
    archived = [line for uri in objects
                for line in stream_archive.decode_records(Path(uri.removeprefix("file://")).read_bytes())]

    assert len(archived) == len(LINES)
    assert all(Path(uri).parent.as_posix().split("/raw/stream/")[1].startswith("year=") for uri in objects)


def test_batch_reading_the_archive_curates_the_record_ids_the_stream_did(local_stack, spark, streamed):
    config, _, tmp = streamed
    replay_lake = to_uri(str(tmp / "replay-lake"))

    code, report = run_batch_entry(["batch", "--input", stream_archive.archive_uri(str(tmp / "raw")),
                                    "--input_format", "stream-archive", "--lake", replay_lake,
                                    "--max_quarantine_share", "0.5"])

    assert code == 0 and report is not None
    streamed_ids = curated_ids(spark, config.lake_uri)
    assert len(streamed_ids) == 7
    assert curated_ids(spark, replay_lake) == streamed_ids
    assert quarantine_reasons(spark, replay_lake) == quarantine_reasons(spark, config.lake_uri)
    assert sum(quarantine_reasons(spark, replay_lake).values()) == 2  # zero quantity, 30 February
    assert report.rows_read == len(LINES) and report.duplicates_dropped == 1


def test_replaying_the_archive_into_the_streams_own_lake_adds_nothing(local_stack, spark, streamed):
    config, _, tmp = streamed
    before = curated_ids(spark, config.lake_uri)

    code, _ = run_batch_entry(["batch", "--input", stream_archive.archive_uri(str(tmp / "raw")),
                               "--input_format", "stream-archive", "--lake", config.lake_uri,
                               "--max_quarantine_share", "0.5"])

    assert code == 0
    assert curated_ids(spark, config.lake_uri) == before
