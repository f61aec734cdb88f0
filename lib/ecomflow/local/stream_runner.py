"""The local stand-in for Glue's Kinesis source: a boto3 shard poller driving `process_batch`.

Spark 3.5 has no open Kinesis source, so locally (and anywhere without Glue) this loop does what
Glue's `forEachBatch` does: every `window_seconds` it reads what arrived on each shard since the
checkpoint, hands it to the same `process_batch(df, batch_id)` as one micro-batch, and only when
that returned (every sink succeeded) commits the checkpoint: the last sequence number per shard
and the next batch id, written atomically (temporary file, fsync, rename). A crash anywhere
before the commit replays the batch from the old checkpoint with the same batch id; the sinks
are idempotent, so nothing is lost and nothing is doubled.

The poller hands over each record's bytes as they arrived, as the Kinesis connector does on Glue,
and `process_batch` reads the fields from them: records that are not JSON objects of raw fields
are quarantined with their own text, the same way on both.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ecomflow.app.stream_job import default_sinks
from ecomflow.config import StreamConfig
from ecomflow.errors import ConfigError
from ecomflow.pipelines.stream import KINESIS_RECORD_SCHEMA, BatchResult, process_batch
from ecomflow.pipelines.stream_sinks import Sink

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "kinesis-checkpoint.json"
MAX_EMPTY_READS = 5  # GetRecords may return nothing mid-shard; follow NextShardIterator this often


@dataclass(frozen=True)
class Checkpoint:
    """The committed position: the next micro-batch id and the last sequence number done per shard."""

    stream_name: str
    batch_id: int = 0
    positions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"stream_name": self.stream_name, "batch_id": self.batch_id, "positions": dict(self.positions)}


class CheckpointStore:
    """The checkpoint file in a local folder (`checkpoint_location`)."""

    def __init__(self, location: str) -> None:
        if "://" in location and not location.startswith("file://"):
            raise ConfigError(f"the local stream runner keeps its checkpoint in a local folder, not {location!r}")
        self.folder = Path(location.removeprefix("file://"))
        self.path = self.folder / CHECKPOINT_FILE

    def load(self, stream_name: str) -> Checkpoint:
        """The committed checkpoint, or a fresh one.

        Raises:
            ConfigError: the checkpoint belongs to another stream.
        """
        if not self.path.exists():
            return Checkpoint(stream_name)
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        if doc["stream_name"] != stream_name:
            raise ConfigError(f"checkpoint {self.path} belongs to stream {doc['stream_name']!r}, not {stream_name!r}")
        return Checkpoint(stream_name, int(doc["batch_id"]), dict(doc["positions"]))

    def commit(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically: a crash leaves the old one or the new one, never half."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(checkpoint.to_dict(), handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class PolledRecord:
    """One Kinesis record as read from its shard."""

    shard_id: str
    sequence_number: str
    data: bytes


class ShardPoller:
    """Reads each shard of a stream from a checkpoint position, at most `limit` records per shard a poll."""

    def __init__(self, client: Any, stream_name: str, starting_position: str = "TRIM_HORIZON",
                 limit: int = 1000) -> None:
        self.client = client
        self.stream_name = stream_name
        self.starting_position = starting_position
        self.limit = limit

    def shard_ids(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self.client.list_shards(**kwargs)
            shards.extend(s["ShardId"] for s in page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return sorted(shards)
            kwargs = {"NextToken": token}

    def _iterator(self, shard_id: str, after: str | None) -> str:
        if after is not None:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
        else:
            kwargs = {"ShardIteratorType": self.starting_position}
        return self.client.get_shard_iterator(StreamName=self.stream_name, ShardId=shard_id, **kwargs)["ShardIterator"]

    def poll(self, positions: dict[str, str]) -> list[PolledRecord]:
        """The records after `positions` on every shard (iterators are made afresh from the checkpoint)."""
        found: list[PolledRecord] = []
        for shard_id in self.shard_ids():
            iterator: str | None = self._iterator(shard_id, positions.get(shard_id))
            for _ in range(MAX_EMPTY_READS):
                if iterator is None:  # a closed shard read to its end
                    break
                page = self.client.get_records(ShardIterator=iterator, Limit=self.limit)
                records = page.get("Records", [])
                found.extend(PolledRecord(shard_id, r["SequenceNumber"], r["Data"]) for r in records)
                iterator = page.get("NextShardIterator")
                if records or not page.get("MillisBehindLatest"):
                    break
        return found


def records_frame(spark: SparkSession, records: Sequence[PolledRecord]) -> DataFrame:
    """The micro-batch DataFrame `process_batch` takes: each record's bytes, in shard then sequence order."""
    return spark.createDataFrame([(r.data, i) for i, r in enumerate(records)], schema=KINESIS_RECORD_SCHEMA)


def advance(positions: dict[str, str], records: Sequence[PolledRecord]) -> dict[str, str]:
    """The positions after `records` (the last sequence number seen per shard)."""
    moved = dict(positions)
    for record in records:
        moved[record.shard_id] = record.sequence_number
    return moved


@dataclass
class StreamRunner:
    """The local streaming job: poll, `process_batch`, commit; every `config.window_seconds`."""

    spark: SparkSession
    config: StreamConfig
    kinesis: Any = None
    sinks: Sequence[Sink] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    backlog: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.kinesis is None:
            from ecomflow import aws
            self.kinesis = aws.client("kinesis")
        if self.sinks is None:
            self.sinks = default_sinks(self.config)
        self.store = CheckpointStore(self.config.checkpoint_uri)
        self.poller = ShardPoller(self.kinesis, self.config.stream_name, self.config.starting_position,
                                  self.config.max_records_per_shard)

    def run_once(self) -> BatchResult | None:
        """Process what arrived since the checkpoint as one micro-batch; None when nothing did."""
        checkpoint = self.store.load(self.config.stream_name)
        started = time.monotonic()
        records = self.poller.poll(checkpoint.positions)
        self.backlog = bool(records) and max(
            sum(1 for r in records if r.shard_id == shard) for shard in {r.shard_id for r in records}
        ) >= self.config.max_records_per_shard
        if not records:
            return None
        polled = time.monotonic()
        frame = records_frame(self.spark, records)
        log.info("batch %d: %d records polled in %.2fs, framed in %.2fs", checkpoint.batch_id, len(records),
                 polled - started, time.monotonic() - polled)
        result = process_batch(frame, checkpoint.batch_id, self.config, self.sinks or ())
        # Only now, with every sink done, does the position move.
        self.store.commit(Checkpoint(self.config.stream_name, checkpoint.batch_id + 1,
                                     advance(checkpoint.positions, records)))
        return result

    def run(self, max_batches: int | None = None, until_idle: bool = False) -> list[BatchResult]:
        """Run micro-batches every `window_seconds` until stopped or `max_batches` ran.

        With `until_idle` it runs back to back and returns once a poll finds nothing new; a full
        page on any shard (a backlog) also skips the wait.
        """
        results: list[BatchResult] = []
        while not self.stop.is_set():
            started = time.monotonic()
            result = self.run_once()
            if result is not None:
                results.append(result)
                if max_batches is not None and len(results) >= max_batches:
                    break
            if until_idle:
                if result is None:
                    break
                continue
            if not self.backlog:
                # A processing-time trigger, as Glue's: a batch starts one window after the previous one
                # started, at once when that one took longer than the window.
                self.stop.wait(max(0.0, self.config.window_seconds - (time.monotonic() - started)))
        return results


def run_local_stream(runtime: Any, config: StreamConfig, create: bool = False) -> dict[str, int]:
    """The streaming job outside Glue: this poller in place of Glue's Kinesis source, until idle or `max_batches`.

    Registered as `shard-poller` in `ecomflow.stream_sources` (the job entry finds it by name). Uses
    the local stack when one runs and no endpoint is set; `create` makes the stream and the tables.
    Returns the totals of the micro-batches it ran.
    """
    from ecomflow.local.localstack import create_stream_resources, use_local_stack_if_running

    use_local_stack_if_running()
    if create:
        create_stream_resources(config.stream_name, config.invoice_table, config.customer_table)
    results = StreamRunner(runtime.spark, config).run(max_batches=config.max_batches, until_idle=config.until_idle)
    return {"batches": len(results), "lines": sum(r.lines for r in results),
            "curated": sum(r.curated for r in results), "quarantined": sum(r.quarantined for r in results)}
