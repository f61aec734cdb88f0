"""The streaming sinks' own logic, with fakes: what the Redshift sink asks of any target."""

from __future__ import annotations

from types import SimpleNamespace

from ecomflow.pipelines.stream_sinks import RedshiftSink
from ecomflow.stores.redshift import UpsertResult


class RecordingTarget:
    """A Redshift target that records what it is asked."""

    reads_lake = False

    def __init__(self, merged_rows):
        self.merged_rows = merged_rows
        self.calls: list[tuple] = []

    def migrate(self):
        self.calls.append(("migrate",))
        return []

    def upsert_batch(self, spark, curated, curated_uri, partitions):
        self.calls.append(("upsert_batch", spark, curated, curated_uri, partitions))
        return UpsertResult(tuple(partitions), self.merged_rows)


def fake_batch(spark, curated, touched):
    """What the sink reads of a StreamBatch: the session, the curated rows, the lake URI, the touched partitions."""
    return SimpleNamespace(lines=SimpleNamespace(sparkSession=spark), curated=curated, curated_touched=touched,
                           config=SimpleNamespace(curated_uri="s3://lake/curated/sales"), written={})


def test_the_redshift_sink_migrates_once_then_hands_every_batch_to_upsert_batch():
    target = RecordingTarget(merged_rows=5)
    sink = RedshiftSink(target)
    spark, rows_0, rows_1 = object(), object(), object()
    first = fake_batch(spark, rows_0, ("year=2010/month=12",))
    second = fake_batch(spark, rows_1, ("year=2011/month=1", "year=2011/month=2"))
    sink(first)
    sink(second)
    assert target.calls == [
        ("migrate",),
        ("upsert_batch", spark, rows_0, "s3://lake/curated/sales", ("year=2010/month=12",)),
        ("upsert_batch", spark, rows_1, "s3://lake/curated/sales", ("year=2011/month=1", "year=2011/month=2")),
    ]
    assert first.written == second.written == {"redshift_merged": 5}


def test_an_unknown_merge_count_is_written_as_zero():
    batch = fake_batch(object(), object(), ())
    RedshiftSink(RecordingTarget(merged_rows=None))(batch)
    assert batch.written == {"redshift_merged": 0}
