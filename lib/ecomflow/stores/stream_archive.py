"""The raw archive of the record stream: Firehose's layout under `raw/stream/` of the raw bucket.

On AWS a Firehose delivery stream (cloudformation/streaming.yaml) reads the Kinesis stream and
writes every record's bytes as they arrived, one record a line (its AppendDelimiterToRecord
processor adds the newline), in gzip objects named as Firehose names them:

    <raw>/raw/stream/year=2026/month=03/day=07/hour=14/ecomflow-dev-archive-1-2026-03-07-14-05-09-<uuid>.gz

Locally `ecomflow.local.stream_archive_local` stands in for it (moto cannot pump Kinesis into
Firehose) and writes the same layout with these functions. `ecomflow batch --input_format
stream-archive` reads it back (`ecomflow.app.archive_replay`).

A record holding a raw newline would come back as two lines: the ingest API writes compact JSON,
which never does (JSON escapes control characters); another producer's such record is quarantined
either way.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

PREFIX = "raw/stream/"
ERROR_PREFIX = "raw/stream-errors/"
# Firehose's Prefix and ErrorOutputPrefix (!{timestamp:...} is the records' approximate arrival time, UTC).
FIREHOSE_PREFIX = PREFIX + "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
FIREHOSE_ERROR_PREFIX = (ERROR_PREFIX + "!{firehose:error-output-type}/"
                         "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/")
DELIMITER = b"\n"
SUFFIX = ".gz"  # CompressionFormat GZIP


def archive_uri(raw_uri: str) -> str:
    """The archive's root below the raw bucket's (or folder's) URI."""
    return f"{raw_uri.rstrip('/')}/{PREFIX.rstrip('/')}"


def partition_path(arrived: datetime) -> str:
    """`year=YYYY/month=MM/day=DD/hour=HH/` of an arrival time, zero-padded as Firehose's `!{timestamp:MM}`."""
    at = arrived.astimezone(UTC)
    return f"year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/"


def object_name(delivery_stream: str, arrived: datetime, version: int = 1, token: str | None = None) -> str:
    """Firehose's object name: `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<random>.gz`."""
    at = arrived.astimezone(UTC)
    return f"{delivery_stream}-{version}-{at:%Y-%m-%d-%H-%M-%S}-{token or uuid.uuid4()}{SUFFIX}"


def object_key(delivery_stream: str, arrived: datetime, token: str | None = None) -> str:
    """The key (below the raw root) of an archive object whose first record arrived at `arrived`."""
    return PREFIX + partition_path(arrived) + object_name(delivery_stream, arrived, token=token)


def encode_records(records: Iterable[bytes]) -> bytes:
    """An archive object's bytes: each record as it arrived plus the delimiter, gzip-compressed."""
    return gzip.compress(b"".join(bytes(record) + DELIMITER for record in records), mtime=0)


def decode_records(blob: bytes) -> list[bytes]:
    """The records of an archive object (the inverse of `encode_records`)."""
    data = gzip.decompress(blob)
    return data.split(DELIMITER)[:-1] if data.endswith(DELIMITER) else data.split(DELIMITER)
