"""Kinesis Data Streams writer: PutRecords within the service limits, failed entries re-sent.

moto accepts anything, AWS does not, so the limits are enforced here:
- at most 500 records and 5 MiB (data plus partition keys) per PutRecords call;
- at most 1 MiB (data plus partition key) per record, partition keys of 1 to 256 characters.
A call that succeeds can still reject some entries (`FailedRecordCount`, throttling or internal
errors per entry); only those entries are re-sent, with backoff, until `RetryPolicy.max_attempts`.
Re-sending can reorder records of a shard; nothing downstream depends on arrival order (lines are
keyed by `record_id`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ecomflow.errors import DeliveryError, LimitError, SizeLimitError
from ecomflow.retry import DEFAULT_RETRY, RetryPolicy

log = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256


@dataclass(frozen=True)
class KinesisEntry:
    """One record to put: its bytes and the partition key that picks its shard."""

    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        """Bytes this entry counts against the record and request limits."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))

    def check(self) -> None:
        """Raise LimitError (SizeLimitError for the size) when the entry breaks a per-record limit."""
        if not 1 <= len(self.partition_key) <= MAX_PARTITION_KEY_CHARS:
            raise LimitError(f"partition key must be 1 to {MAX_PARTITION_KEY_CHARS} characters",
                             limit="MAX_PARTITION_KEY_CHARS", maximum=MAX_PARTITION_KEY_CHARS,
                             actual=len(self.partition_key))
        if self.size > MAX_RECORD_BYTES:
            raise SizeLimitError(f"record of {self.size} bytes exceeds the Kinesis limit of {MAX_RECORD_BYTES} bytes",
                                 limit="MAX_RECORD_BYTES", maximum=MAX_RECORD_BYTES, actual=self.size)


@dataclass(frozen=True)
class PutStats:
    """What a `put_records` call did: records accepted, PutRecords calls made, entries re-sent."""

    records: int
    calls: int
    retried: int


def chunk_entries(entries: Iterable[KinesisEntry], max_records: int = MAX_RECORDS_PER_CALL,
                  max_bytes: int = MAX_BYTES_PER_CALL) -> Iterator[list[KinesisEntry]]:
    """Group entries, in order, into request-sized chunks (≤ `max_records` and ≤ `max_bytes` each)."""
    chunk: list[KinesisEntry] = []
    chunk_bytes = 0
    for entry in entries:
        entry.check()
        if chunk and (len(chunk) == max_records or chunk_bytes + entry.size > max_bytes):
            yield chunk
            chunk, chunk_bytes = [], 0
        chunk.append(entry)
        chunk_bytes += entry.size
    if chunk:
        yield chunk


def _put_chunk(client: Any, stream_name: str, chunk: Sequence[KinesisEntry], retry: RetryPolicy,
               sleep: Callable[[float], None]) -> tuple[int, int]:
    """Put one chunk; re-send only the failed entries. Returns (calls made, entries re-sent)."""
    pending = list(chunk)
    calls = retried = 0
    for attempt in range(1, retry.max_attempts + 1):
        response = client.put_records(
            StreamName=stream_name,
            Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in pending],
        )
        calls += 1
        if not response.get("FailedRecordCount"):
            return calls, retried
        results = response["Records"]
        failed = [entry for entry, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
        codes = sorted({r["ErrorCode"] for r in results if r.get("ErrorCode")})
        log.warning("put_records: %d of %d entries failed (%s), attempt %d of %d", len(failed), len(pending),
                    ", ".join(codes), attempt, retry.max_attempts)
        pending = failed
        retried += len(failed)
        if attempt < retry.max_attempts:
            sleep(retry.delay(attempt))
    raise DeliveryError(f"{len(pending)} records were not accepted by stream {stream_name} after "
                        f"{retry.max_attempts} attempts")


def put_records(client: Any, stream_name: str, entries: Iterable[KinesisEntry], *,
                retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep) -> PutStats:
    """Put every entry into `stream_name`, chunked to the PutRecords limits.

    Raises:
        SizeLimitError: an entry is larger than 1 MiB; LimitError: an entry has an unusable
            partition key (both checked for all entries before anything is sent).
        DeliveryError: some entries were still failing after `retry.max_attempts` attempts.
    """
    chunks = list(chunk_entries(entries))  # validates every entry before the first call
    records = calls = retried = 0
    for chunk in chunks:
        chunk_calls, chunk_retried = _put_chunk(client, stream_name, chunk, retry, sleep)
        records += len(chunk)
        calls += chunk_calls
        retried += chunk_retried
    return PutStats(records=records, calls=calls, retried=retried)


# The shards of a stream created locally: as many as an on-demand stream starts with on AWS (4 MB/s,
# 4,000 records/s of writes). moto appends a record in time proportional to its shard's length, so
# spreading the records also keeps the local stream fast as it fills.
LOCAL_SHARDS = 4


def ensure_stream(client: Any, stream_name: str, shards: int = LOCAL_SHARDS) -> None:
    """Create the stream if it does not exist and wait until it is ACTIVE (local stack, tests, demo)."""
    try:
        client.describe_stream_summary(StreamName=stream_name)
    except client.exceptions.ResourceNotFoundException:
        client.create_stream(StreamName=stream_name, ShardCount=shards)
        log.info("created Kinesis stream %s with %d shards", stream_name, shards)
    client.get_waiter("stream_exists").wait(StreamName=stream_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
