"""Kinesis PutRecords: chunked to the service limits, only failed entries re-sent."""

from __future__ import annotations

import pytest

from ecomflow.errors import DeliveryError, SizeLimitError
from ecomflow.retry import RetryPolicy
from ecomflow.stores import kinesis
from ecomflow.stores.kinesis import KinesisEntry

NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


class FakeKinesis:
    """Records every put_records call; fails the entries whose data is listed, `failures` times each."""

    def __init__(self, failing: dict[bytes, int] | None = None) -> None:
        self.calls: list[list[dict]] = []
        self.failing = dict(failing or {})

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's names
        self.calls.append(Records)
        results = []
        for record in Records:
            if self.failing.get(record["Data"], 0) > 0:
                self.failing[record["Data"]] -= 1
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                results.append({"SequenceNumber": "1", "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def entries(n: int, size: int = 10) -> list[KinesisEntry]:
    return [KinesisEntry(data=f"{i:0{size}d}".encode(), partition_key=f"{i}") for i in range(n)]


def test_chunks_hold_at_most_500_records():
    sizes = [len(c) for c in kinesis.chunk_entries(entries(1201))]
    assert sizes == [500, 500, 201]


def test_chunks_hold_at_most_5_mib():
    big = [KinesisEntry(data=b"x" * (1024 * 1024 - 10), partition_key="536365") for _ in range(11)]
    chunks = list(kinesis.chunk_entries(big))
    assert [len(c) for c in chunks] == [5, 5, 1]
    assert all(sum(e.size for e in c) <= kinesis.MAX_BYTES_PER_CALL for c in chunks)


def test_record_over_1_mib_is_refused_before_anything_is_sent():
    client = FakeKinesis()
    too_big = [*entries(2), KinesisEntry(data=b"x" * (1024 * 1024), partition_key="536365")]
    with pytest.raises(SizeLimitError, match="exceeds"):
        kinesis.put_records(client, "s", too_big, retry=NO_WAIT, sleep=lambda s: None)
    assert client.calls == []


def test_only_failed_entries_are_resent():
    batch = entries(5)
    client = FakeKinesis(failing={batch[1].data: 1, batch[3].data: 2})
    waits: list[float] = []
    stats = kinesis.put_records(client, "s", batch, retry=NO_WAIT, sleep=waits.append)
    assert [[r["Data"] for r in call] for call in client.calls] == [
        [e.data for e in batch], [batch[1].data, batch[3].data], [batch[3].data]]
    assert stats == kinesis.PutStats(records=5, calls=3, retried=3)
    assert len(waits) == 2


def test_partition_key_is_sent_per_record():
    client = FakeKinesis()
    kinesis.put_records(client, "s", [KinesisEntry(b"{}", "C536379")], retry=NO_WAIT)
    assert client.calls[0][0]["PartitionKey"] == "C536379"


def test_persistent_failures_raise_delivery_error():
    batch = entries(2)
    client = FakeKinesis(failing={batch[0].data: 99})
    with pytest.raises(DeliveryError, match="1 records were not accepted"):
        kinesis.put_records(client, "s", batch, retry=NO_WAIT, sleep=lambda s: None)
    assert len(client.calls) == NO_WAIT.max_attempts


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=1.0)
    assert 0.05 <= policy.delay(1) <= 0.1
    assert 0.5 <= policy.delay(8) <= 1.0
