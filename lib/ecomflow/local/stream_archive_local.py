"""The local stand-in for the stream's Firehose archive: its own consumer of the Kinesis stream.

moto cannot pump Kinesis into Firehose, so locally this reads the stream as a consumer of its own
(its own checkpoint, beside the streaming job's, which it never touches) and writes what
Firehose's delivery stream writes on AWS (cloudformation/streaming.yaml): every record's bytes as
they arrived, one a line, in gzip objects under `raw/stream/year=/month=/day=/hour=/` named as
Firehose names them, each placed by the arrival time of its oldest record
(`ecomflow.stores.stream_archive`). An object is written before the checkpoint moves, so a crash
in between archives those records again (Firehose is at-least-once too); the replay
deduplicates them by record_id.

    ecomflow archive --stream_name ecomflow-records --raw /tmp/raw --checkpoint_location /tmp/archive-ckpt
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ecomflow.errors import ConfigError
from ecomflow.local.stream_runner import MAX_EMPTY_READS, Checkpoint, CheckpointStore
from ecomflow.stores import stream_archive

log = logging.getLogger(__name__)

DEFAULT_DELIVERY_STREAM = "ecomflow-local-archive"


@dataclass(frozen=True)
class ArchivedRecord:
    """One record as the archive keeps it: where it was read, when it arrived, its bytes."""

    shard_id: str
    sequence_number: str
    arrived: datetime
    data: bytes


class ArchiveWriter:
    """Writes archive objects below a raw root: a local folder (`file://` or a path) or `s3://` (boto3)."""

    def __init__(self, raw_uri: str, s3: Any = None) -> None:
        self.raw_uri = raw_uri.rstrip("/")
        self.s3 = s3

    def write(self, key: str, body: bytes) -> str:
        """Store `body` at `key` below the root; return its URI."""
        if self.raw_uri.startswith("s3://"):
            bucket, _, prefix = self.raw_uri[len("s3://"):].partition("/")
            full_key = f"{prefix}/{key}" if prefix else key
            if self.s3 is None:
                from ecomflow import aws
                self.s3 = aws.client("s3")
            self.s3.put_object(Bucket=bucket, Key=full_key, Body=body)
            return f"s3://{bucket}/{full_key}"
        if "://" in self.raw_uri and not self.raw_uri.startswith("file://"):
            raise ConfigError(f"the local archive writes to a folder or s3://, not {self.raw_uri!r}")
        path = Path(self.raw_uri.removeprefix("file://")) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("." + path.name + ".partial")  # hidden until whole: readers skip dot files
        partial.write_bytes(body)
        partial.replace(path)
        return "file://" + str(path.resolve())  # as config.to_uri writes local paths (no %-escapes)


@dataclass
class ArchiveConsumer:
    """Reads the stream after its own checkpoint and archives what it read, one object a poll."""

    kinesis: Any
    stream_name: str
    writer: ArchiveWriter
    checkpoints: CheckpointStore
    delivery_stream: str = DEFAULT_DELIVERY_STREAM
    limit: int = 1000
    written: list[str] = field(default_factory=list)

    def _shard_ids(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self.kinesis.list_shards(**kwargs)
            shards.extend(s["ShardId"] for s in page.get("Shards", []))
            if not page.get("NextToken"):
                return sorted(shards)
            kwargs = {"NextToken": page["NextToken"]}

    def poll(self, positions: dict[str, str]) -> list[ArchivedRecord]:
        """The records after `positions` on every shard, with their arrival times (TRIM_HORIZON at first)."""
        found: list[ArchivedRecord] = []
        for shard_id in self._shard_ids():
            after = positions.get(shard_id)
            start = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after} if after
                     else {"ShardIteratorType": "TRIM_HORIZON"})
            iterator = self.kinesis.get_shard_iterator(StreamName=self.stream_name, ShardId=shard_id,
                                                       **start)["ShardIterator"]
            for _ in range(MAX_EMPTY_READS):
                if iterator is None:
                    break
                page = self.kinesis.get_records(ShardIterator=iterator, Limit=self.limit)
                records = page.get("Records", [])
                found.extend(ArchivedRecord(shard_id, r["SequenceNumber"],
                                            _utc(r.get("ApproximateArrivalTimestamp")), r["Data"]) for r in records)
                iterator = page.get("NextShardIterator")
                if records or not page.get("MillisBehindLatest"):
                    break
        return found

    def run_once(self) -> str | None:
        """Archive what arrived since the checkpoint as one object; its URI, or None when nothing did."""
        checkpoint = self.checkpoints.load(self.stream_name)
        records = self.poll(checkpoint.positions)
        if not records:
            return None
        oldest = min(r.arrived for r in records)
        uri = self.writer.write(stream_archive.object_key(self.delivery_stream, oldest),
                                stream_archive.encode_records(r.data for r in records))
        positions = dict(checkpoint.positions)
        for record in records:
            positions[record.shard_id] = record.sequence_number
        self.checkpoints.commit(Checkpoint(self.stream_name, checkpoint.batch_id + 1, positions))
        self.written.append(uri)
        log.info("archived %d records to %s", len(records), uri)
        return uri

    def run(self, until_idle: bool = True, interval_seconds: float = 1.0, max_objects: int | None = None) -> list[str]:
        """Archive until a poll finds nothing (`until_idle`) or `max_objects` were written; their URIs."""
        written: list[str] = []
        while max_objects is None or len(written) < max_objects:
            uri = self.run_once()
            if uri is None:
                if until_idle:
                    break
                time.sleep(interval_seconds)
                continue
            written.append(uri)
        return written


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def archive_consumer(stream_name: str, raw_uri: str, checkpoint_location: str,
                     delivery_stream: str = DEFAULT_DELIVERY_STREAM, kinesis: Any = None,
                     s3: Any = None) -> ArchiveConsumer:
    """An archive consumer of `stream_name` writing below `raw_uri`, its checkpoint in `checkpoint_location`."""
    if kinesis is None:
        from ecomflow import aws
        kinesis = aws.client("kinesis")
    return ArchiveConsumer(kinesis, stream_name, ArchiveWriter(raw_uri, s3), CheckpointStore(checkpoint_location),
                           delivery_stream)
