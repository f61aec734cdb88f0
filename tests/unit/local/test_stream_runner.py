"""The local shard poller's pure parts: checkpoint, record decoding, polling, positions."""

from __future__ import annotations

import pytest

from ecomflow.errors import ConfigError
from ecomflow.local.stream_runner import Checkpoint, CheckpointStore, PolledRecord, ShardPoller, advance


def test_checkpoint_round_trips_and_is_replaced_whole(tmp_path):
    store = CheckpointStore(str(tmp_path / "cp"))
    assert store.load("records") == Checkpoint("records")
    store.commit(Checkpoint("records", 3, {"shardId-0": "49"}))
    assert store.load("records") == Checkpoint("records", 3, {"shardId-0": "49"})
    assert [p.name for p in (tmp_path / "cp").iterdir()] == ["kinesis-checkpoint.json"]  # no temp file left


def test_checkpoint_of_another_stream_is_refused(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.commit(Checkpoint("other"))
    with pytest.raises(ConfigError, match="belongs to stream 'other'"):
        store.load("records")


def test_s3_checkpoint_is_refused_locally():
    with pytest.raises(ConfigError, match="local folder"):
        CheckpointStore("s3://bucket/checkpoint")


def test_positions_advance_to_the_last_record_per_shard():
    records = [PolledRecord("a", "1", b""), PolledRecord("a", "5", b""), PolledRecord("b", "2", b"")]
    assert advance({"a": "0", "c": "9"}, records) == {"a": "5", "b": "2", "c": "9"}


class FakeKinesis:
    def __init__(self):
        self.iterators = []

    def list_shards(self, StreamName=None, NextToken=None):  # noqa: N803
        if NextToken is None:
            return {"Shards": [{"ShardId": "shardId-1"}], "NextToken": "t"}
        return {"Shards": [{"ShardId": "shardId-0"}]}

    def get_shard_iterator(self, StreamName, ShardId, ShardIteratorType, StartingSequenceNumber=None):  # noqa: N803
        self.iterators.append((ShardId, ShardIteratorType, StartingSequenceNumber))
        return {"ShardIterator": f"{ShardId}:0"}

    def get_records(self, ShardIterator, Limit):  # noqa: N803
        shard, step = ShardIterator.split(":")
        if shard == "shardId-0" and step == "0":  # an empty page mid-shard: follow the iterator
            return {"Records": [], "NextShardIterator": f"{shard}:1", "MillisBehindLatest": 100}
        return {"Records": [{"SequenceNumber": f"{shard}-{step}", "Data": b"{}"}], "NextShardIterator": None,
                "MillisBehindLatest": 0}


def test_poller_reads_every_shard_from_the_checkpoint():
    client = FakeKinesis()
    records = ShardPoller(client, "records").poll({"shardId-1": "41"})
    assert [(r.shard_id, r.sequence_number) for r in records] == [("shardId-0", "shardId-0-1"),
                                                                   ("shardId-1", "shardId-1-0")]
    assert client.iterators == [("shardId-0", "TRIM_HORIZON", None), ("shardId-1", "AFTER_SEQUENCE_NUMBER", "41")]
