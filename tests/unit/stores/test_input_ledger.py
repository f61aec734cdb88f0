"""The input ledger on its own: what is pending, by size/time first and by content hash where those changed."""

from __future__ import annotations

import os

from ecomflow.stores import input_ledger


def test_pending_recorded_and_the_newest_entry_wins(spark, tmp_path):
    ledger = str(tmp_path / "ledger")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n")
    b.write_text("y\n")
    files = [str(a), str(b)]
    first = input_ledger.pending(spark, ledger, files)
    assert (len(first.objects), first.skipped) == (2, 0)
    assert all(len(o.sha256) == 64 and o.size == 2 for o in first.objects)
    input_ledger.record(spark, ledger, first.objects, "20111209T120000Z-a")
    input_ledger.record(spark, ledger, first.objects, "20111209T120000Z-a")  # the same run again: same entries
    assert input_ledger.pending(spark, ledger, files).objects == ()

    b.write_text("yy\n")  # changed
    os.utime(a, (os.stat(a).st_atime, os.stat(a).st_mtime + 100))  # touched, same bytes
    second = input_ledger.pending(spark, ledger, files)
    assert [os.path.basename(u) for u in second.uris] == ["b.csv"] and second.skipped == 1
    input_ledger.record(spark, ledger, second.objects, "20111209T130000Z-b")
    newest = input_ledger.recorded(spark, ledger)
    assert {os.path.basename(u): o.size for u, o in newest.items()} == {"a.csv": 2, "b.csv": 3}


def test_no_files_and_no_ledger(spark, tmp_path):
    assert input_ledger.pending(spark, str(tmp_path / "none"), []) == input_ledger.Pending((), 0)
    assert input_ledger.recorded(spark, str(tmp_path / "none")) == {}
