"""The lake's Iceberg tables in the test run's Spark session, on the local stack's PostgreSQL catalog.

Idempotent MERGEs scoped to their partitions, write-audit-publish through a branch (fast-forward,
or a merge when `main` moved on), and two writers adding overlapping keys to one partition at
once: every key ends up once.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ecomflow import runtime
from ecomflow.local import iceberg as local_iceberg
from ecomflow.spark.schemas import CURATED_SCHEMA
from ecomflow.stores import iceberg

pytestmark = pytest.mark.integration


def line(record_id: str, year: int = 2011, month: int = 12, quantity: int = 1) -> tuple:
    return (record_id, "536365", "85123A", "WHITE HANGING HEART", quantity, Decimal("2.550"),
            Decimal("2.550") * quantity, datetime(year, month, 1, 8, 26), "17850", "United Kingdom", "sale",
            "in.csv", datetime(2024, 1, 1), year, month)


@pytest.fixture
def sales(spark, local_stack, tmp_path):
    """A fresh lake's curated table in its own catalog."""
    lake = (tmp_path / "lake").as_uri()
    name = local_iceberg.register_catalog(spark, lake, local_stack.postgres)
    table, _ = iceberg.lake_tables(name, "ecomflow", lake)
    iceberg.ensure_table(spark, table)
    return table


def frame(spark, ids, **kwargs):
    return spark.createDataFrame([line(i, **kwargs) for i in ids], CURATED_SCHEMA)


def ids(spark, table, branch=None):
    return sorted(r.record_id for r in iceberg.read_table(spark, table, branch).select("record_id").collect())


def test_the_runtime_finds_the_local_catalog_of_a_lake(spark, local_stack, tmp_path, monkeypatch):
    monkeypatch.setattr(local_iceberg, "load_endpoints", lambda: local_stack)
    lake = str(tmp_path / "lake")
    assert runtime.lake_catalog(spark, lake) == local_iceberg.catalog_name(lake)


def test_table_is_created_once_where_users_find_it(spark, sales, tmp_path):
    iceberg.ensure_table(spark, sales)  # again: kept as it is
    assert (tmp_path / "lake" / "curated" / "sales" / "metadata").is_dir()
    properties = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {sales.ident}").collect()}
    assert properties["write.merge.isolation-level"] == "serializable"
    assert properties["format-version"] == "2"
    assert [r.partition for r in spark.table(f"{sales.ident}.partitions").collect()] == []


def test_merge_adds_only_new_keys_of_the_touched_partitions_and_a_replay_adds_nothing(spark, sales):
    touched = iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b"]).unionByName(frame(spark, ["c"], month=11)))
    assert touched == [{"year": 2011, "month": 11}, {"year": 2011, "month": 12}]
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b"]).unionByName(frame(spark, ["c"], month=11)))
    # `b` again with another quantity: the published line is kept; `d` is new
    iceberg.merge_new_rows(spark, sales, frame(spark, ["b", "d"], quantity=5))
    assert ids(spark, sales) == ["a", "b", "c", "d"]
    assert [r.quantity for r in spark.table(sales.ident).where("record_id = 'b'").collect()] == [1]
    assert spark.table(f"{sales.ident}.delete_files").count() == 0
    assert iceberg.merge_new_rows(spark, sales, frame(spark, [])) == []


def test_the_merge_reads_only_the_partitions_it_touches(spark, sales):
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a"], month=1))
    # The same key in another month is another line of the table (the key is checked per partition)...
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a"], month=2))
    assert spark.table(sales.ident).count() == 2
    # ...and the MERGE's plan scans only the touched partition.
    sql = iceberg.merge_sql(sales, "v", [{"year": 2011, "month": 2}])
    frame(spark, ["z"], month=2).createOrReplaceTempView("v")
    plan = "\n".join(r[0] for r in spark.sql(f"EXPLAIN {sql}").collect())
    assert "month = 2" in plan.replace("(", "").replace(")", "") or "month#" in plan


def test_audit_branch_publish_by_fast_forward_and_failed_audit_leaves_main(spark, sales):
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a"]))
    branch = iceberg.audit_branch("20111209T120000Z-ok")
    iceberg.create_branch(spark, sales, branch)
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b", "c"]), branch=branch)
    assert ids(spark, sales, branch) == ["a", "b", "c"]
    assert ids(spark, sales) == ["a"]  # not published yet
    assert [b["name"] for b in iceberg.branches(spark, sales)] == [branch]
    assert iceberg.publish_branch(spark, sales, branch) == "fast-forward"
    assert ids(spark, sales) == ["a", "b", "c"]
    assert iceberg.current_snapshot_id(spark, sales) == iceberg.current_snapshot_id(spark, sales, branch)

    failed = iceberg.audit_branch("20111209T130000Z-bad")
    iceberg.create_branch(spark, sales, failed)
    iceberg.merge_new_rows(spark, sales, frame(spark, ["x"]), branch=failed)
    # the gate said no: nothing is published, and the branch stays for inspection until dropped
    assert ids(spark, sales) == ["a", "b", "c"]
    iceberg.drop_branch(spark, sales, branch)
    assert [b["name"] for b in iceberg.branches(spark, sales)] == [failed]
    iceberg.drop_branch(spark, sales, failed)
    iceberg.drop_branch(spark, sales, failed)  # gone already: fine
    assert iceberg.branches(spark, sales) == []


def test_a_branch_on_an_empty_table_and_a_publish_after_main_moved_on(spark, sales):
    branch = iceberg.audit_branch("run-1")
    iceberg.create_branch(spark, sales, branch)  # no snapshot yet: an empty one is committed first
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b", "c"]), branch=branch)
    iceberg.merge_new_rows(spark, sales, frame(spark, ["c", "s"]))  # a streaming batch reaches main meanwhile
    assert iceberg.publish_branch(spark, sales, branch) == "merged"
    assert ids(spark, sales) == ["a", "b", "c", "s"]


def test_history_lists_the_commits_newest_first(spark, sales):
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b"]))
    iceberg.merge_new_rows(spark, sales, frame(spark, ["b", "c"]), summary={"ecomflow.batch-id": "3"})
    rows = iceberg.history(spark, sales)
    assert [r["added_records"] for r in rows][:2] == [1, 2]
    assert rows[0]["total_records"] == 3
    assert [r["ids"] for r in rows][:2] == [{"ecomflow.batch-id": "3"}, {}]


def test_two_writers_adding_overlapping_keys_at_once_keep_every_key_once(spark, sales):
    """Threads of one session, each committing batches that overlap the other's keys."""
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(offset: int) -> None:
        try:
            start.wait()
            for batch in range(4):
                keys = [f"k{(offset + batch * 10 + i) % 60:02d}" for i in range(25)]
                iceberg.merge_new_rows(spark, sales, frame(spark, keys), backoff_s=0.05)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    expected = sorted({f"k{(o + b * 10 + i) % 60:02d}" for o in (0, 7) for b in range(4) for i in range(25)})
    found = ids(spark, sales)
    assert found == expected  # nothing lost, nothing twice


def test_readers_outside_spark_read_the_committed_snapshot_not_the_folder(spark, sales, local_stack, tmp_path):
    import duckdb

    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b"]))
    first = iceberg.current_snapshot_id(spark, sales)
    iceberg.merge_new_rows(spark, sales, frame(spark, ["c"], month=11))
    branch = iceberg.audit_branch("unpublished")
    iceberg.create_branch(spark, sales, branch)
    iceberg.merge_new_rows(spark, sales, frame(spark, ["x", "y"]), branch=branch)  # files in the folder, not on main

    catalog = local_iceberg.sql_catalog(str(tmp_path / "lake"), local_stack.postgres)
    table = local_iceberg.load_table(catalog, "ecomflow", "sales")
    files = local_iceberg.committed_files(table)
    on_disk = sorted(str(p) for p in (tmp_path / "lake" / "curated" / "sales" / "data").rglob("*.parquet"))
    assert len(files) == 2 and len(on_disk) == 3
    rows = duckdb.sql(f"SELECT record_id FROM read_parquet({files!r}) "
                      "ORDER BY 1").fetchall()
    assert rows == [("a",), ("b",), ("c",)]
    assert len(local_iceberg.committed_files(table, snapshot_id=first)) == 1  # time travel
    from ecomflow.errors import InputError
    with pytest.raises(InputError, match="no table ecomflow.nope"):
        local_iceberg.load_table(catalog, "ecomflow", "nope")
    with pytest.raises(InputError, match="no snapshot 42"):
        local_iceberg.committed_files(table, snapshot_id=42)


def test_maintenance_compacts_small_files_expires_snapshots_and_deletes_orphans(spark, sales, tmp_path):
    import os
    import time

    for batch in range(4):  # four micro-batches: four small files in one partition
        iceberg.merge_new_rows(spark, sales, frame(spark, [f"k{batch}a", f"k{batch}b"]))
    orphan = tmp_path / "lake" / "curated" / "sales" / "data" / "stray.parquet"
    orphan.write_bytes(b"left by a crashed writer")
    old = time.time() - 10 * 86400
    os.utime(orphan, (old, old))

    counts = iceberg.maintain(spark, sales, iceberg.Maintenance(keep_snapshots=1, snapshot_age_days=0))
    assert counts["rewritten_data_files"] == 4 and counts["added_data_files"] == 1
    assert counts["orphan_files_deleted"] == 1 and not orphan.exists()
    assert counts["expired_snapshots_data_files"] == 4  # the pre-compaction files went with their snapshots
    assert spark.table(f"{sales.ident}.files").count() == 1
    assert spark.table(f"{sales.ident}.snapshots").count() == 1
    assert ids(spark, sales) == sorted(f"k{b}{s}" for b in range(4) for s in "ab")


def test_local_athena_reads_a_glue_iceberg_table_at_its_current_snapshot(spark, sales):
    """A Glue table entry as GlueCatalog writes it (table_type ICEBERG, metadata_location) becomes a DuckDB view."""
    from ecomflow.local.athena_local import LocalAthena
    from ecomflow.stores import catalog

    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b"]).unionByName(frame(spark, ["c"], month=11)))
    branch = iceberg.audit_branch("unpublished")
    iceberg.create_branch(spark, sales, branch)
    iceberg.merge_new_rows(spark, sales, frame(spark, ["x"]), branch=branch)
    (metadata,) = spark.sql(f"SELECT file FROM {sales.ident}.metadata_log_entries "
                            "ORDER BY timestamp DESC LIMIT 1").collect()[0]
    spec = next(s for s in catalog.lake_tables("file:///unused") if s.name == "sales")
    entry = catalog.table_input(spec)
    entry.update(PartitionKeys=[], Parameters={"table_type": "ICEBERG", "metadata_location": metadata})
    entry["StorageDescriptor"]["Columns"] = [{"Name": f.name, "Type": catalog.glue_type(f.dataType)}
                                             for f in CURATED_SCHEMA.fields]
    athena = LocalAthena("ecomflow")
    athena.add_table(entry)
    result = athena.sql("SELECT month, count(*), sum(revenue) FROM ecomflow.sales GROUP BY 1 ORDER BY 1")
    assert result.rows == [(11, 1, Decimal("2.550")), (12, 2, Decimal("5.100"))]

    empty = dict(entry, Name="empty")
    other, _ = iceberg.lake_tables(sales.catalog, "other", sales.location.rsplit("/curated", 1)[0] + "/o")
    iceberg.ensure_table(spark, other)
    (empty_metadata,) = spark.sql(f"SELECT file FROM {other.ident}.metadata_log_entries").collect()[0]
    empty["Parameters"] = {"table_type": "ICEBERG", "metadata_location": empty_metadata}
    athena.add_table(empty)
    assert athena.sql("SELECT count(*) FROM ecomflow.empty").rows == [(0,)]


def test_readers_name_the_committed_files_of_main_or_of_a_branch_never_a_listing(spark, sales, tmp_path):
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a"], month=1))
    iceberg.create_branch(spark, sales, "audit_r")
    iceberg.merge_new_rows(spark, sales, frame(spark, ["b"], month=2), branch="audit_r")
    main_files = iceberg.data_files(spark, sales)
    assert len(main_files) == 1  # the branch's file is in the folder, not in main
    assert iceberg.data_files(spark, sales, touched=[{"year": 2011, "month": 2}]) == []
    iceberg.publish_branch(spark, sales, "audit_r")
    february = iceberg.data_files(spark, sales, touched=[{"year": 2011, "month": 2}])
    assert len(february) == 1 and february[0] not in main_files
    assert iceberg.data_files(spark, sales, touched=[]) == []
    location = iceberg.metadata_location(spark, sales)
    assert location is not None and location.endswith(".metadata.json")
    static = local_iceberg.static_table(iceberg.metadata_location(spark, sales))
    assert local_iceberg.committed_files(static) == sorted(local_iceberg.local_path(f)
                                                          for f in iceberg.data_files(spark, sales))


def test_partition_paths_and_values_round_trip_typed(sales):
    assert iceberg.partition_paths(sales, [{"year": 2011, "month": 1}]) == ("year=2011/month=1",)
    assert iceberg.partition_values(sales, "year=2011/month=1") == {"year": 2011, "month": 1}
    for bad in ("month=1/year=2011", "year=2011", "year=2011/month=1/x=2", "year2011/month=1"):
        with pytest.raises(ValueError, match="not a partition path"):
            iceberg.partition_values(sales, bad)


def test_a_merge_carries_its_summary_into_the_snapshot_and_a_failure_inside_comes_back(spark, sales):
    # From a thread of its own, as the streaming sinks' lanes run (a pinned JVM thread of its own).
    writer = threading.Thread(target=iceberg.merge_new_rows, args=(spark, sales, frame(spark, ["a", "b"])),
                              kwargs={"summary": {"ecomflow.batch-id": "7", "ecomflow.run-id": "stream-7"}})
    writer.start()
    writer.join()
    iceberg.merge_new_rows(spark, sales, frame(spark, ["c"]))  # no summary: none of ours
    rows = spark.sql(f"SELECT summary FROM {sales.ident}.snapshots ORDER BY committed_at").collect()
    first, second = (row["summary"] for row in rows)
    assert first["ecomflow.batch-id"] == "7" and first["ecomflow.run-id"] == "stream-7"
    assert first["added-records"] == "2"
    assert "ecomflow.batch-id" not in second  # the thread-local was cleared after the first commit

    def fails():
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        iceberg.with_commit_properties(spark, {"ecomflow.batch-id": "8"}, fails)


def test_a_commit_is_found_by_its_summary_and_names_only_the_files_it_added(spark, sales, tmp_path):
    iceberg.merge_new_rows(spark, sales, frame(spark, ["a", "b"]), summary={"ecomflow.commit-id": "one"})
    iceberg.merge_new_rows(spark, sales, frame(spark, ["b", "c"]), summary={"ecomflow.commit-id": "two"})
    iceberg.merge_new_rows(spark, sales, frame(spark, ["c"]), summary={"ecomflow.commit-id": "three"})  # a replay
    (first,) = iceberg.commits_with(spark, sales, {"ecomflow.commit-id": "one"})
    (second,) = iceberg.commits_with(spark, sales, {"ecomflow.commit-id": "two"})
    replay = iceberg.commits_with(spark, sales, {"ecomflow.commit-id": "three"})
    assert (first.added_records, second.added_records) == (2, 1)
    assert all(commit.added_records == 0 for commit in replay)  # if the empty MERGE commits at all

    added = iceberg.added_data_files(spark, sales, second.snapshot_id)
    assert len(added) == second.added_data_files and sum(f.records for f in added) == 1
    committed = iceberg.committed_files(spark, sales, [{"year": 2011, "month": 12}])
    assert {f.path for f in added} < {f.path for f in committed}
    assert sorted(f.path for f in committed) == iceberg.data_files(spark, sales)
    for file in committed:  # sizes as on disk: what a COPY manifest's content_length must say
        assert Path(file.path.removeprefix("file:")).stat().st_size == file.size_bytes
    assert iceberg.committed_files(spark, sales, [{"year": 2011, "month": 1}]) == []
