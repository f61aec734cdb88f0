"""`--incremental on`: a run reads only the input files the lake's ledger has not seen with the same bytes.

A folder that already holds processed files gets one more: only that one is read. A re-upload of the
same bytes is skipped, a changed file is read again, a run with nothing new publishes nothing and
says so, and a run the gate stops records nothing (its files stay pending).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ecomflow.config import parse_batch_config
from ecomflow.errors import QualityGateError
from ecomflow.pipelines.batch import run_batch
from ecomflow.pipelines.quality import QualityGate
from ecomflow.runtime import Runtime
from ecomflow.stores import input_ledger

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def write(path: Path, invoice: int, lines: int) -> Path:
    rows = [f"{invoice},{20000 + i},ITEM {i},{i + 1},12/1/2010 8:26,2.55,17850,United Kingdom" for i in range(lines)]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="latin-1")
    return path


def batch(spark, folder: Path, lake: Path, gate=None):
    config = parse_batch_config(["batch", "--input", str(folder), "--lake", str(lake), "--incremental", "on"])
    return run_batch(Runtime(spark=spark), config, gate=gate)


def curated(spark, lake: Path) -> int:
    """The curated rows readers see: `main` of the lake's Iceberg table."""
    from ecomflow.stores import iceberg

    sales, _ = iceberg.open_tables(spark, lake.as_uri())
    return iceberg.read_table(spark, sales).count()


def test_only_new_or_changed_files_are_read(local_stack, spark, tmp_path):
    folder, lake = tmp_path / "incoming", tmp_path / "lake"
    folder.mkdir()
    write(folder / "day1.csv", 536001, 3)
    write(folder / "day2.csv", 536002, 4)
    first = batch(spark, folder, lake)
    assert (first.rows_read, first.inputs_skipped, curated(spark, lake)) == (7, 0, 7)

    write(folder / "day3.csv", 536003, 5)  # one new file beside the processed ones
    second = batch(spark, folder, lake)
    assert (second.rows_read, second.rows_curated, second.inputs_skipped) == (5, 5, 2)
    assert curated(spark, lake) == 12

    nothing = batch(spark, folder, lake)  # nothing new: nothing read, nothing published, no error
    assert (nothing.rows_read, nothing.published, nothing.inputs_skipped) == (0, False, 3)
    assert curated(spark, lake) == 12

    # day1 uploaded again with the same bytes (a new modification time): still skipped
    later = time.time() + 60
    os.utime(folder / "day1.csv", (later, later))
    assert batch(spark, folder, lake).rows_read == 0

    # day2 changed: read again; its unchanged lines are not added twice
    write(folder / "day2.csv", 536002, 6)
    changed = batch(spark, folder, lake)
    assert (changed.rows_read, changed.inputs_skipped) == (6, 2)
    assert curated(spark, lake) == 14


def test_a_run_the_gate_stops_records_nothing(local_stack, spark, tmp_path):
    folder, lake = tmp_path / "incoming", tmp_path / "lake"
    folder.mkdir()
    write(folder / "good.csv", 536010, 3)
    batch(spark, folder, lake, gate=QualityGate())
    (folder / "readme.txt").write_text("not raw input\n")  # the gate refuses the folder now
    with pytest.raises(QualityGateError):
        batch(spark, folder, lake, gate=QualityGate())
    (folder / "readme.txt").unlink()
    write(folder / "more.csv", 536011, 2)
    after = batch(spark, folder, lake, gate=QualityGate())
    assert (after.rows_read, after.inputs_skipped) == (2, 1)
    ledger = input_ledger.recorded(spark, str(lake / "_ledger" / "inputs"))
    assert sorted(Path(uri).name for uri in ledger) == ["good.csv", "more.csv"]


def test_without_incremental_every_file_is_read_again(local_stack, spark, tmp_path):
    folder, lake = tmp_path / "incoming", tmp_path / "lake"
    folder.mkdir()
    write(folder / "day1.csv", 536020, 3)
    config = parse_batch_config(["batch", "--input", str(folder), "--lake", str(lake)])
    assert run_batch(Runtime(spark=spark), config).rows_read == 3
    assert run_batch(Runtime(spark=spark), config).rows_read == 3
    assert not (lake / "_ledger").exists()
