"""Time travel in the local Athena: `FOR VERSION AS OF` / `FOR TIMESTAMP AS OF` read that snapshot's files.

The table is a real Iceberg table, written by pyiceberg into a SQLite catalog in the test's folder
(no Spark, no local stack); tests/integration/test_lake_commands.py reads a table Spark wrote.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from ecomflow.errors import InputError
from ecomflow.local.athena_local import LocalAthena, time_travel_refs

COLUMNS = [{"Name": "record_id", "Type": "string"}, {"Name": "month", "Type": "int"}]


def entry(name: str = "sales", metadata_location: str | None = None) -> dict:
    parameters = {"table_type": "ICEBERG"}
    if metadata_location:
        parameters["metadata_location"] = metadata_location
    return {"Name": name, "StorageDescriptor": {"Columns": COLUMNS, "Location": "file:///unused"},
            "PartitionKeys": [], "Parameters": parameters}


def rows(*pairs):
    return pa.table({"record_id": pa.array([p[0] for p in pairs], pa.string()),
                     "month": pa.array([p[1] for p in pairs], pa.int32())})


@pytest.fixture
def table(tmp_path):
    """An Iceberg table with two snapshots: a, b (first), then c (second), committed at different milliseconds."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=(tmp_path / "wh").as_uri())
    catalog.create_namespace("ecomflow")
    created = catalog.create_table(("ecomflow", "sales"), schema=rows(("x", 1)).schema)
    created.append(rows(("a", 11), ("b", 12)))
    first = created.current_snapshot()
    while int(time.time() * 1000) <= first.timestamp_ms:  # the next commit gets a later time
        time.sleep(0.002)
    created.append(rows(("c", 12)))
    return catalog.load_table(("ecomflow", "sales"))


def at(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def snapshots(table):
    return [entry.snapshot_id for entry in table.history()]


def athena_over(table) -> LocalAthena:
    athena = LocalAthena()
    athena.add_table(entry(), iceberg_table=table)
    return athena


def test_a_query_reads_the_current_snapshot_and_a_version_reads_that_snapshot(table):
    first, second = snapshots(table)
    athena = athena_over(table)
    assert athena.sql("SELECT record_id FROM ecomflow.sales ORDER BY 1").rows == [("a",), ("b",), ("c",)]
    assert athena.sql(f"SELECT record_id FROM ecomflow.sales FOR VERSION AS OF {first} ORDER BY 1").rows == [
        ("a",), ("b",)]
    assert athena.sql(f"select count(*) from ecomflow.sales for version as of {second}").rows == [(3,)]


def test_a_timestamp_reads_the_last_snapshot_committed_at_or_before_it(table):
    first, second = table.history()
    athena = athena_over(table)
    query = "SELECT count(*) FROM ecomflow.sales FOR TIMESTAMP AS OF TIMESTAMP '{}'"
    assert athena.sql(query.format(at(first.timestamp_ms))).rows == [(2,)]  # at it: included
    assert athena.sql(query.format(at(second.timestamp_ms - 1))).rows == [(2,)]
    assert athena.sql(query.format(at(second.timestamp_ms))).rows == [(3,)]
    assert athena.sql(query.format("2999-01-01 00:00:00 UTC")).rows == [(3,)]
    with pytest.raises(InputError, match="no snapshot committed at or before 2011-12-09 12:00:00 UTC"):
        athena.sql(query.format("2011-12-09 12:00:00 UTC"))


def test_two_versions_in_one_query_each_read_their_own_snapshot(table):
    first, _ = snapshots(table)
    athena = athena_over(table)
    sql = (f"SELECT n.record_id FROM ecomflow.sales n LEFT JOIN ecomflow.sales FOR VERSION AS OF {first} o "
           "ON n.record_id = o.record_id WHERE o.record_id IS NULL")
    assert athena.sql(sql).rows == [("c",)]  # what the second commit added


def test_an_unknown_snapshot_or_a_table_without_versions_is_named(table, tmp_path):
    athena = athena_over(table)
    with pytest.raises(InputError, match="ecomflow.sales has no snapshot 42 "):
        athena.sql("SELECT * FROM ecomflow.sales FOR VERSION AS OF 42")
    with pytest.raises(InputError, match="no snapshot nope"):
        athena.sql("SELECT * FROM ecomflow.sales FOR VERSION AS OF 'nope'")
    with pytest.raises(InputError, match="ecomflow.other is not an Iceberg table here"):
        athena.sql("SELECT * FROM ecomflow.other FOR VERSION AS OF 1")
    with pytest.raises(InputError, match="not a time"):
        athena.sql("SELECT * FROM ecomflow.sales FOR TIMESTAMP AS OF TIMESTAMP 'yesterday-ish'")


def test_a_table_read_from_its_metadata_location_travels_too(table):
    first, _ = snapshots(table)
    athena = LocalAthena()
    athena.add_table(entry(metadata_location=table.metadata_location))
    assert athena.sql(f"SELECT count(*) FROM ecomflow.sales FOR SYSTEM_VERSION AS OF {first}").rows == [(2,)]
    assert athena.sql("SELECT count(*) FROM ecomflow.sales").rows == [(3,)]
    assert athena.tables == ["sales"]  # the snapshot views are not tables of the catalog


def test_an_iceberg_table_without_a_commit_is_empty_and_has_no_versions():
    athena = LocalAthena()
    athena.add_table(entry())  # no metadata_location yet
    assert athena.sql("SELECT count(*) FROM ecomflow.sales").rows == [(0,)]
    with pytest.raises(InputError, match="ecomflow.sales has no snapshots yet"):
        athena.sql("SELECT count(*) FROM ecomflow.sales FOR VERSION AS OF 1")


def test_time_travel_references_are_found_in_athena_sql():
    sql = ("SELECT * FROM ecomflow.sales FOR VERSION AS OF 123 a JOIN \"ecomflow\".\"Sales\" "
           "FOR TIMESTAMP AS OF TIMESTAMP '2011-12-09 12:00:00 UTC' b ON true, "
           "sales for system_time as of '2011-12-09'")
    found = [(r.schema, r.table, r.kind, r.value) for r in time_travel_refs(sql)]
    assert found == [("ecomflow", "sales", "version", "123"),
                     ("ecomflow", "Sales", "timestamp", "2011-12-09 12:00:00 UTC"),
                     (None, "sales", "timestamp", "2011-12-09")]
    assert time_travel_refs("SELECT 1 FROM ecomflow.sales") == []
    with pytest.raises(InputError, match="FOR TIMESTAMP AS OF needs a time"):
        time_travel_refs("SELECT 1 FROM ecomflow.sales FOR TIMESTAMP AS OF 123")
