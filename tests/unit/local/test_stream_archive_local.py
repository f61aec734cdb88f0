"""The local Firehose stand-in: its own consumer of a (moto) Kinesis stream, Firehose's layout, resumable."""

from __future__ import annotations

import gzip
import re

import boto3
import pytest
from moto import mock_aws

from ecomflow.local.stream_archive_local import archive_consumer
from ecomflow.stores import stream_archive

STREAM = "ecomflow-records"
KEY = re.compile(r"^raw/stream/year=\d{4}/month=\d{2}/day=\d{2}/hour=\d{2}/"
                 r"ecomflow-local-archive-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.gz$")


@pytest.fixture
def kinesis(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName=STREAM, ShardCount=2)
        yield client


def put(kinesis, *records: bytes) -> None:
    for i, data in enumerate(records):
        kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey=f"invoice-{i}")


def archived(raw) -> dict[str, list[bytes]]:
    return {p.relative_to(raw).as_posix(): stream_archive.decode_records(p.read_bytes())
            for p in sorted(raw.rglob("*.gz"))}


def test_records_are_archived_byte_for_byte_in_firehoses_layout(kinesis, tmp_path):
    records = [b'{"InvoiceNo":"536365","StockCode":"85123A"}', "{\"Description\":\"CAF\u00c9 \u00a3\"}".encode(),
               b"not json, kept as it came"]
    put(kinesis, *records)

    consumer = archive_consumer(STREAM, str(tmp_path / "raw"), str(tmp_path / "ckpt"), kinesis=kinesis)
    consumer.run()

    (key, lines), = archived(tmp_path / "raw").items()
    assert KEY.match(key), key
    assert sorted(lines) == sorted(records)
    assert gzip.decompress((tmp_path / "raw" / key).read_bytes()).endswith(b"\n")  # one record a line


def test_a_second_run_archives_only_what_arrived_since(kinesis, tmp_path):
    consumer = archive_consumer(STREAM, str(tmp_path / "raw"), str(tmp_path / "ckpt"), kinesis=kinesis)
    put(kinesis, b"first", b"second")
    consumer.run()
    assert consumer.run() == []  # nothing new: no object

    put(kinesis, b"third")
    again = archive_consumer(STREAM, str(tmp_path / "raw"), str(tmp_path / "ckpt"), kinesis=kinesis)  # a restart
    (uri,) = again.run()

    assert sorted(line for lines in archived(tmp_path / "raw").values() for line in lines) == [
        b"first", b"second", b"third"]
    assert stream_archive.decode_records(open(uri.removeprefix("file://"), "rb").read()) == [b"third"]


def test_its_checkpoint_is_its_own(kinesis, tmp_path):
    put(kinesis, b"x")
    archive_consumer(STREAM, str(tmp_path / "raw"), str(tmp_path / "archive-ckpt"), kinesis=kinesis).run()

    assert sorted(p.name for p in (tmp_path / "archive-ckpt").iterdir()) == ["kinesis-checkpoint.json"]
    assert not (tmp_path / "stream-ckpt").exists()  # the streaming job's checkpoint is never touched


def test_the_archive_can_live_in_s3(kinesis, tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="raw-bucket")
    put(kinesis, b"r1")

    archive_consumer(STREAM, "s3://raw-bucket", str(tmp_path / "ckpt"), kinesis=kinesis, s3=s3).run()

    (obj,) = s3.list_objects_v2(Bucket="raw-bucket")["Contents"]
    assert KEY.match(obj["Key"])
    assert stream_archive.decode_records(s3.get_object(Bucket="raw-bucket", Key=obj["Key"])["Body"].read()) == [b"r1"]
