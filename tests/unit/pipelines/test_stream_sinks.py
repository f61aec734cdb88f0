"""The streaming sinks' own logic, with fakes: what the Redshift sink asks of any target."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ecomflow.pipelines import stream_sinks
from ecomflow.pipelines.stream_sinks import RedshiftSink
from ecomflow.stores import iceberg
from ecomflow.stores.redshift import UpsertResult

SALES, QUARANTINE = iceberg.lake_tables("lake", "ecomflow", "s3://lake")


class RecordingTarget:
    """A Redshift target that records what it is asked."""

    def __init__(self, merged_rows, reads_lake=False):
        self.merged_rows = merged_rows
        self.reads_lake = reads_lake
        self.calls: list[tuple] = []

    def migrate(self):
        self.calls.append(("migrate",))
        return []

    def upsert_batch(self, spark, table, curated, commits):
        self.calls.append(("upsert_batch", spark, table, curated, commits))
        return UpsertResult((), self.merged_rows)


@pytest.fixture
def lake(monkeypatch):
    """The lake's tables without a catalog; `asked` records which commits the sink looked up."""
    asked: list[dict] = []
    monkeypatch.setattr(iceberg, "open_tables", lambda spark, lake_uri, database: (SALES, QUARANTINE))

    def commits_with(spark, table, summary):
        asked.append(dict(summary))
        return [iceberg.Commit(int(summary["ecomflow.batch-id"]) * 10, 1, 1, dict(summary))]

    monkeypatch.setattr(iceberg, "commits_with", commits_with)
    return asked


def fake_batch(spark, curated, touched, batch_id=0):
    """What the sink reads of a StreamBatch: the session, the curated rows, the config, the touched partitions."""
    return SimpleNamespace(lines=SimpleNamespace(sparkSession=spark), curated=curated, curated_touched=touched,
                           batch_id=batch_id, written={},
                           config=SimpleNamespace(lake_uri="s3://lake", lake_database="ecomflow",
                                                  job_name="ecomflow-stream-etl", checkpoint_uri="s3://cp/a"))


def test_the_redshift_sink_migrates_once_then_hands_every_batch_to_upsert_batch(lake):
    target = RecordingTarget(merged_rows=5)
    sink = RedshiftSink(target)
    spark, rows_0, rows_1 = object(), object(), object()
    first = fake_batch(spark, rows_0, ("year=2010/month=12",))
    second = fake_batch(spark, rows_1, ("year=2011/month=1", "year=2011/month=2"), batch_id=1)
    sink(first)
    sink(second)
    assert target.calls == [
        ("migrate",),
        ("upsert_batch", spark, SALES, rows_0, []),  # a target that does not read the lake gets no commits
        ("upsert_batch", spark, SALES, rows_1, []),
    ]
    assert lake == []
    assert first.written == second.written == {"redshift_merged": 5}


def test_a_target_that_reads_the_lake_gets_every_commit_of_the_batch_id(lake):
    target = RecordingTarget(merged_rows=2, reads_lake=True)
    batch = fake_batch(object(), object(), ("year=2011/month=1",), batch_id=4)
    RedshiftSink(target)(batch)
    assert lake == [{"ecomflow.job": "ecomflow-stream-etl", "ecomflow.checkpoint": "s3://cp/a",
                     "ecomflow.batch-id": "4"}]  # a replay's attempts too
    ((_, _, _, _, commits),) = [c for c in target.calls if c[0] == "upsert_batch"]
    assert [c.snapshot_id for c in commits] == [40]


def test_an_unknown_merge_count_is_written_as_zero_and_a_batch_without_curated_rows_sends_nothing(lake):
    batch = fake_batch(object(), object(), ("year=2011/month=1",))
    RedshiftSink(RecordingTarget(merged_rows=None))(batch)
    assert batch.written == {"redshift_merged": 0}
    target = RecordingTarget(merged_rows=3)
    empty = fake_batch(object(), object(), ())
    RedshiftSink(target)(empty)
    assert target.calls == [("migrate",)] and empty.written == {"redshift_merged": 0}


def test_the_summary_of_a_batchs_commits_names_job_and_batch():
    assert stream_sinks.batch_summary(fake_batch(object(), object(), (), batch_id=12)) == {
        "ecomflow.job": "ecomflow-stream-etl", "ecomflow.checkpoint": "s3://cp/a", "ecomflow.batch-id": "12"}
