"""A batch run and streaming micro-batches writing the same months of one lake at the same time.

The issue's case: a batch run publishes November and December 2011 while the stream commits lines
of the same months. Before Iceberg, the batch job's partition swap deleted the streamed files it
had not seen. Here every line either path wrote is in `main` at the end, once, whichever way the
commits met: interleaved on purpose (the stream commits between the run's branch and its publish,
so the publish cannot fast-forward), and in two threads at once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ecomflow.api.ingest import RawRecord
from ecomflow.config import StreamConfig, parse_batch_config
from ecomflow.contract import RAW_FIELDS, RAW_HEADER
from ecomflow.pipelines import stream, stream_sinks
from ecomflow.pipelines.batch import run_batch
from ecomflow.runtime import Runtime
from ecomflow.stores import iceberg

pytestmark = pytest.mark.integration


def line(n: int) -> str:
    """A distinct sale of November or December 2011 (odd: November, even: December)."""
    month = 11 if n % 2 else 12
    when = f"{month}/{1 + n % 28}/2011 10:{n % 60:02d}"
    return f"{570000 + n},{20000 + n % 97},ITEM {n},{1 + n % 5},{when},1.25,1{n % 9000:04d},France"


BATCH_ONLY = [line(n) for n in range(0, 240)]
BOTH = [line(n) for n in range(240, 300)]  # sent through the API and also in the batch's file
STREAM_ONLY = [line(n) for n in range(300, 480)]
STREAMED = BOTH + STREAM_ONLY


def record(text: str) -> tuple[bytes]:
    return (RawRecord.of(dict(zip(RAW_FIELDS, text.split(","), strict=True))).to_json().encode("utf-8"),)


def micro_batches(spark, lines: list[str], size: int = 30):
    for start in range(0, len(lines), size):
        yield start // size, spark.createDataFrame([record(t) for t in lines[start:start + size]], "data binary")


def stream_into(spark, config: StreamConfig, lines: list[str]) -> int:
    """The streaming job's lake sink over `lines`, one commit per micro-batch; returns the batches run."""
    done = 0
    for batch_id, records in micro_batches(spark, lines):
        stream.process_batch(records, batch_id, config, [stream_sinks.save_lake])
        done += 1
    return done


def write_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / "batch.csv"
    path.write_text("\n".join([RAW_HEADER, *BATCH_ONLY, *BOTH]) + "\n", encoding="latin-1")
    return path


def setup(spark, tmp_path: Path, name: str):
    lake = tmp_path / name
    source = write_input(tmp_path / f"{name}-in")
    batch_config = parse_batch_config(["batch", "--input", str(source), "--lake", str(lake)])
    stream_config = StreamConfig(stream_name="records", lake_uri=batch_config.lake_uri,
                                 checkpoint_uri=str(tmp_path / f"{name}-cp"))
    sales, _ = iceberg.open_tables(spark, batch_config.lake_uri)
    return batch_config, stream_config, sales


def keys(spark, sales) -> tuple[int, int]:
    rows = iceberg.read_table(spark, sales)
    return rows.count(), rows.select("record_id").distinct().count()


class StreamingDuringAudit:
    """A gate that lets the stream commit to `main` after the run staged on its branch, then passes."""

    def __init__(self, spark, config: StreamConfig) -> None:  # noqa: ANN001
        self.spark, self.config, self.batches = spark, config, 0

    def check_input(self, spark, config, run_id) -> None:  # noqa: ANN001 - nothing to judge here
        pass

    def __call__(self, spark, staged_run) -> None:  # noqa: ANN001
        self.batches = stream_into(self.spark, self.config, STREAMED)


def test_stream_commits_during_the_audit_are_kept_when_the_run_publishes(spark, local_stack, tmp_path):
    batch_config, stream_config, sales = setup(spark, tmp_path, "interleaved")
    gate = StreamingDuringAudit(spark, stream_config)

    report = run_batch(Runtime(spark=spark), batch_config, gate=gate)

    assert report.published and gate.batches == len(STREAMED) // 30 == 8
    total = len(BATCH_ONLY) + len(BOTH) + len(STREAM_ONLY)
    assert keys(spark, sales) == (total, total)  # nothing deleted, nothing twice
    assert iceberg.branches(spark, sales) == []  # the audit branch went with the publish
    # main moved on during the audit, so the publish merged the audited rows instead of fast-forwarding
    operations = [h["operation"] for h in reversed(iceberg.history(spark, sales))]
    assert operations[-1] == "overwrite" and report.snapshots["sales"] == iceberg.current_snapshot_id(spark, sales)


def test_a_batch_run_and_the_stream_at_the_same_time_lose_nothing(spark, local_stack, tmp_path):
    batch_config, stream_config, sales = setup(spark, tmp_path, "threads")
    errors: list[BaseException] = []

    def guarded(work) -> None:  # noqa: ANN001
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    reports = []
    writers = [threading.Thread(target=guarded, args=(lambda: reports.append(
                   run_batch(Runtime(spark=spark), batch_config)),)),
               threading.Thread(target=guarded, args=(lambda: stream_into(spark, stream_config, STREAMED),))]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=900)

    assert errors == [] and reports and reports[0].published
    total = len(BATCH_ONLY) + len(BOTH) + len(STREAM_ONLY)
    assert keys(spark, sales) == (total, total)
    # a replay of every micro-batch and a second run of the file change nothing
    stream_into(spark, stream_config, STREAMED)
    run_batch(Runtime(spark=spark), batch_config)
    assert keys(spark, sales) == (total, total)
