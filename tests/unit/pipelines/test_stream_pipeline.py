"""process_batch on tiny DataFrames: batch-identical cleaning, idempotent lake commits.

The tests that write the lake (marked `integration`) need its Iceberg catalog on the local stack's
PostgreSQL (`lake` fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecomflow.api.ingest import RawRecord
from ecomflow.config import CleaningRules, StreamConfig
from ecomflow.contract import RAW_FIELDS
from ecomflow.pipelines import stream, stream_batch, stream_sinks
from ecomflow.spark.transforms import classify_lines, parse_raw_lines, to_curated
from ecomflow.stores import iceberg

LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/1/2010 8:26,2.55,17850,United Kingdom",
    "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527.0,United Kingdom",
    "536378,71053,WHITE METAL LANTERN,0,1/4/2011 9:32,3.39,17850,United Kingdom",
]


def record_bytes(line: str) -> bytes:
    """The record the ingest API puts on the stream for one CSV line."""
    return RawRecord.of(dict(zip(RAW_FIELDS, line.split(","), strict=True))).to_json().encode("utf-8")


def records(spark, lines: list[str]):
    """A micro-batch as the Kinesis connector hands it over: each record's bytes (no order column)."""
    return spark.createDataFrame([(record_bytes(line),) for line in lines], "data binary")


@pytest.fixture
def config(tmp_path: Path) -> StreamConfig:
    return StreamConfig(stream_name="records", lake_uri=f"file://{tmp_path}/lake", checkpoint_uri=str(tmp_path / "cp"))


@pytest.fixture
def lake(spark, config, local_stack):
    """The config's lake with its Iceberg catalog on the local stack: (curated, quarantine) tables."""
    return iceberg.open_tables(spark, config.lake_uri, config.lake_database)


def read(spark, lake, zone: str):
    """The committed rows of the lake's curated or quarantine table."""
    curated, quarantine = lake
    return iceberg.read_table(spark, curated if zone == "curated" else quarantine)


def snapshots(spark, table) -> list[tuple[int, dict]]:
    return [(r["snapshot_id"], dict(r["summary"])) for r in
            spark.sql(f"SELECT snapshot_id, summary FROM {table.ident}.snapshots ORDER BY committed_at").collect()]


def test_streamed_lines_get_the_batch_jobs_record_ids(spark, config):
    streamed = stream.stream_lines(records(spark, LINES), config, ingested_at=__import__("datetime").datetime.now())
    batch = spark.createDataFrame([(line,) for line in LINES], "raw_line string") \
        .transform(parse_raw_lines).transform(classify_lines, CleaningRules())
    columns = ["record_id", "invoice_no", "stock_code", "quantity", "unit_price", "invoice_ts", "customer_id",
               "line_type", "reason"]
    assert sorted(streamed.select(columns).collect(), key=str) == sorted(batch.select(columns).collect(), key=str)


def test_raw_line_is_the_records_json(spark, config):
    lines = stream.to_raw_lines(records(spark, LINES[2:3])).collect()
    assert lines[0]["raw_line"] == ('{"InvoiceNo":"C536379","StockCode":"D","Description":"Discount",'
                                    '"Quantity":"-1","InvoiceDate":"12/1/2010 9:41","UnitPrice":"27.50",'
                                    '"CustomerID":"14527.0","Country":"United Kingdom"}')


HOSTILE_RECORDS = [b"not json at all", b'{"InvoiceNo":"536365","StockCode":"85123A"', b"[1, 2]",
                   b'{"InvoiceNo":"536365"} and more', b"\xff\xfe\x00", b"", b'{"Quantity": {"n": 1}}']


@pytest.mark.integration
def test_records_that_are_not_json_are_each_quarantined_with_their_own_text(spark, config, lake):
    # What any producer may write to the stream, beside a good record: nothing collapses or vanishes.
    batch = spark.createDataFrame([(r,) for r in [*HOSTILE_RECORDS, record_bytes(LINES[0])]], "data binary")
    result = stream.process_batch(batch, 0, config, sinks=[stream_sinks.save_lake])

    assert (result.lines, result.curated, result.quarantined, result.duplicates_dropped) == (8, 1, 7, 0)
    quarantined = read(spark, lake, "quarantine").collect()
    assert sorted(r["raw_line"] for r in quarantined) == sorted(
        r.decode("utf-8", errors="replace") for r in HOSTILE_RECORDS)
    assert {r["reason"] for r in quarantined} == {"missing_invoice_no"}


def test_the_local_poller_and_the_glue_source_read_records_alike(spark, config):
    from ecomflow.local.stream_runner import PolledRecord, records_frame

    data = [*HOSTILE_RECORDS, *(record_bytes(line) for line in LINES)]
    polled = records_frame(spark, [PolledRecord("shardId-0", str(i), d) for i, d in enumerate(data)])
    glue = spark.createDataFrame([(d,) for d in data], "data binary")
    columns = [*RAW_FIELDS, "raw_line"]
    assert sorted(stream.to_raw_lines(polled).select(columns).collect(), key=str) == sorted(
        stream.to_raw_lines(glue).select(columns).collect(), key=str)


@pytest.mark.integration
def test_process_batch_commits_curated_and_quarantine_once_each_with_the_batch_id(spark, config, lake):
    result = stream.process_batch(records(spark, LINES + LINES[:1]), 5, config, sinks=[stream_sinks.save_lake])
    assert (result.lines, result.curated, result.quarantined, result.duplicates_dropped) == (5, 3, 1, 1)
    assert result.written == {"lake_curated": 3, "lake_quarantined": 1}
    assert read(spark, lake, "curated").count() == 3
    assert [r["reason"] for r in read(spark, lake, "quarantine").collect()] == ["zero_quantity"]
    for table in lake:
        ((_, summary),) = snapshots(spark, table)  # one commit per table
        assert summary["ecomflow.batch-id"] == "5" and summary["ecomflow.job"] == config.job_name
        assert summary["ecomflow.checkpoint"] == config.checkpoint_uri
        assert summary["ecomflow.commit-id"]


@pytest.mark.integration
def test_replaying_a_batch_changes_nothing(spark, config, lake):
    stream.process_batch(records(spark, LINES), 0, config, sinks=[stream_sinks.save_lake])
    before = sorted(read(spark, lake, "curated").select("record_id", "ingested_at").collect())
    files = [iceberg.data_files(spark, table) for table in lake]
    result = stream.process_batch(records(spark, LINES), 0, config, sinks=[stream_sinks.save_lake])
    assert sorted(read(spark, lake, "curated").select("record_id", "ingested_at").collect()) == before
    assert [iceberg.data_files(spark, table) for table in lake] == files
    assert result.written == {"lake_curated": 0, "lake_quarantined": 0}  # not counted twice


@pytest.mark.integration
def test_a_replay_with_more_records_adds_only_the_new_ones(spark, config, lake):
    stream.process_batch(records(spark, LINES[:2]), 0, config, sinks=[stream_sinks.save_lake])
    result = stream.process_batch(records(spark, LINES), 0, config, sinks=[stream_sinks.save_lake])
    assert result.written == {"lake_curated": 1, "lake_quarantined": 1}
    curated = read(spark, lake, "curated")
    assert curated.count() == curated.select("record_id").distinct().count() == 3


def test_sinks_see_the_curated_lines_and_a_failing_sink_propagates(spark, config):
    seen: list[list[str]] = []

    def capture(batch: stream_batch.StreamBatch) -> None:
        seen.append(sorted(r["invoice_no"] for r in stream_sinks.dynamodb_rows(batch.curated).collect()))

    def crash(batch: stream_batch.StreamBatch) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        stream.process_batch(records(spark, LINES), 7, config, sinks=[capture, crash])
    assert seen == [["536365", "536365", "C536379"]]


def test_dynamodb_rows_keep_wall_clock_time(spark, config):
    lines = stream.stream_lines(records(spark, LINES[:1]), config, __import__("datetime").datetime.now())
    (row,) = stream_sinks.dynamodb_rows(to_curated(lines)).collect()
    assert row["invoice_ts"] == "2010-12-01T08:26:00"


def test_lanes_run_side_by_side_and_keep_their_order(spark, config):
    # Each lane's first sink waits for the other lane's: sequential lanes would break the barrier.
    both_started = __import__("threading").Barrier(2, timeout=30)
    order: list[str] = []

    def lane_sink(name: str):
        def sink(batch: stream_batch.StreamBatch) -> None:
            if name.endswith("1"):
                both_started.wait()
            order.append(name)
        sink.__name__ = name
        return sink

    lanes = stream_sinks.Concurrently([lane_sink("a1"), lane_sink("a2")], [lane_sink("b1"), lane_sink("b2")])
    result = stream.process_batch(records(spark, LINES), 3, config, sinks=[lanes])

    assert order.index("a1") < order.index("a2") and order.index("b1") < order.index("b2")
    assert result.lines == 4


def test_a_failing_lane_lets_the_other_finish_then_raises(spark, config):
    finished: list[str] = []

    def crash(batch: stream_batch.StreamBatch) -> None:
        raise RuntimeError("store down")

    def slow_but_fine(batch: stream_batch.StreamBatch) -> None:
        batch.lines.count()
        finished.append("fine")

    with pytest.raises(RuntimeError, match="store down"):
        stream.process_batch(records(spark, LINES), 4, config,
                             sinks=[stream_sinks.Concurrently([crash, slow_but_fine], [slow_but_fine])])
    assert finished == ["fine"]  # the failing lane stopped at its failure, the other lane ran to its end


def test_a_batch_is_counted_per_partition_it_touches(spark, config):
    lines = stream.stream_lines(records(spark, LINES + LINES[:1]), config, __import__("datetime").datetime.now())
    counts = stream_batch.count_partitions(lines)
    assert (counts.read, counts.curated, counts.quarantined) == (5, 3, 1)
    assert counts.curated_touched == ("year=2010/month=12",)
    assert counts.quarantine_touched == ("reason=zero_quantity",)


@pytest.mark.integration
def test_a_line_a_store_refuses_is_dead_lettered_and_the_batch_commits(spark, config, lake):
    from ecomflow.stores.dynamodb import Rejected

    def refusing_store(batch: stream_batch.StreamBatch) -> None:
        (first,) = batch.curated.orderBy("record_id").select("record_id").limit(1).collect()
        batch.rejected.append(Rejected(config.invoice_table, ("536365", "x"), first["record_id"], "Item too large"))

    result = stream.process_batch(records(spark, LINES), 0, config, sinks=[stream_sinks.save_lake, refusing_store])

    assert result.written["dead_lettered"] == 1 and result.curated == 3
    dead = read(spark, lake, "quarantine").where("reason = 'rejected_by_dynamodb'").collect()
    assert len(dead) == 1 and '"invoice_no":"536365"' in dead[0]["raw_line"]  # the whole line is kept
    again = stream.process_batch(records(spark, LINES), 0, config, sinks=[stream_sinks.save_lake, refusing_store])
    assert again.written["dead_lettered"] == 1
    assert read(spark, lake, "quarantine").where("reason = 'rejected_by_dynamodb'").count() == 1  # idempotent


@pytest.mark.integration
def test_a_replay_after_a_crash_before_redshift_still_hands_it_the_files_the_first_attempt_committed(
        spark, config, lake):
    from ecomflow.stores.redshift import UpsertResult

    class FilesTarget:  # a Data API-like target: loads what the batch's lake commits added
        reads_lake = True
        loaded: list[list[str]] = []

        def migrate(self):
            return []

        def upsert_batch(self, spark, table, curated, commits):
            files = [f.path for c in commits if c.added_data_files
                     for f in iceberg.added_data_files(spark, table, c.snapshot_id)]
            self.loaded.append(files)
            return UpsertResult((), len(files))

    def crash(batch: stream_batch.StreamBatch) -> None:
        raise RuntimeError("killed after the lake")

    with pytest.raises(RuntimeError, match="killed"):
        stream.process_batch(records(spark, LINES), 0, config, sinks=[stream_sinks.save_lake, crash])
    target = FilesTarget()
    replay = stream.process_batch(records(spark, LINES), 0, config,
                                  sinks=[stream_sinks.save_lake, stream_sinks.RedshiftSink(target)])
    assert replay.written["lake_curated"] == 0  # the first attempt's commit holds the rows...
    (files,) = target.loaded
    assert files and sorted(files) == iceberg.data_files(spark, lake[0])  # ...and Redshift still gets its files
