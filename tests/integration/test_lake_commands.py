"""The lake's user commands on Iceberg: migrate a plain-parquet lake, history, branches, maintain, time travel.

The commands run in this process (`ecomflow.cli.main.main`) on the test run's Spark session and the
local stack's PostgreSQL catalog; every row of the old lake is counted at the end.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ecomflow import runtime
from ecomflow.app import migrate
from ecomflow.cli.main import main
from ecomflow.spark.schemas import CURATED_SCHEMA, QUARANTINE_SCHEMA
from ecomflow.stores import iceberg

pytestmark = pytest.mark.integration


def line(record_id: str, month: int, quantity: int = 1) -> tuple:
    return (record_id, "536365", "85123A", "WHITE HANGING HEART", quantity, Decimal("2.550"),
            Decimal("2.550") * quantity, datetime(2011, month, 1, 8, 26), "17850", "United Kingdom", "sale",
            "in.csv", datetime(2024, 1, 1), 2011, month)


def quarantined(qid: str, reason: str) -> tuple:
    return (qid, f"raw,{qid}", reason, "in.csv", datetime(2024, 1, 1))


def write_old_lake(spark, lake: Path, prefix: str = "r") -> tuple[list[tuple], list[tuple]]:
    """A plain-parquet lake as the jobs wrote it before Iceberg: hive folders, no metadata/; two files per month."""
    sales = [line(f"{prefix}{m}-{i}", m, quantity=i + 1) for m in (11, 12) for i in range(5)]
    bad = [quarantined(f"q{prefix}{i}", reason) for i, reason in enumerate(["BAD_PRICE", "BAD_PRICE", "NO_INVOICE"])]
    frame = spark.createDataFrame(sales, CURATED_SCHEMA)
    frame.repartition(2).write.mode("append").partitionBy("year", "month").parquet(str(lake / "curated" / "sales"))
    spark.createDataFrame(bad, QUARANTINE_SCHEMA).write.mode("append").partitionBy("reason").parquet(
        str(lake / "quarantine" / "sales"))
    return sales, bad


@pytest.fixture
def cli(capsys, caplog):
    """Run `ecomflow ARGS...` here: (exit code, stdout, the error lines it logged)."""
    def run(*argv: str) -> tuple[int, str, str]:
        caplog.clear()
        code = main(list(argv))
        errors = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        return code, capsys.readouterr().out, errors
    return run


def tables_of(spark, lake: Path) -> tuple[iceberg.LakeTable, iceberg.LakeTable]:
    return iceberg.lake_tables(runtime.lake_catalog(spark, str(lake)), "ecomflow", str(lake))


def ids(spark, table: iceberg.LakeTable) -> list[str]:
    return sorted(r[0] for r in spark.table(table.ident).select(table.key).collect())


@pytest.fixture
def old_lake(spark, local_stack, tmp_path):
    lake = tmp_path / "lake"
    sales, bad = write_old_lake(spark, lake)
    (lake / "_reports").mkdir()  # the rest of the lake stays where it is
    return lake, sales, bad


def test_migrate_moves_the_old_folders_aside_and_merges_every_row_in_once(spark, cli, old_lake):
    lake, sales, bad = old_lake
    # A line written twice (a replayed old-style append) is one row of the table.
    spark.createDataFrame(sales[:1], CURATED_SCHEMA).write.mode("append").partitionBy("year", "month").parquet(
        str(lake / "curated" / "sales"))
    code, out, err = cli("migrate", "--lake", str(lake), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["moved"]) == 2
    (stamp,) = [p.name for p in (lake / "_migrated").iterdir()]
    assert (lake / "_migrated" / stamp / "curated" / "sales" / "year=2011" / "month=12").is_dir()
    assert (lake / "_migrated" / stamp / migrate.DONE_MARKER).is_file()
    assert (lake / "curated" / "sales" / "metadata").is_dir() and (lake / "_reports").is_dir()
    counts = {t["table"]: t for t in report["tables"]}
    assert counts["sales"]["rows_read"] == len(sales) + 1 and counts["sales"]["duplicates"] == 1
    assert counts["sales"]["rows_added"] == counts["sales"]["rows_after"] == len(sales)
    assert counts["sales_quarantine"]["rows_after"] == len(bad)

    curated, quarantine = tables_of(spark, lake)
    assert ids(spark, curated) == sorted(r[0] for r in sales)
    assert ids(spark, quarantine) == sorted(r[0] for r in bad)
    (total,) = spark.sql(f"SELECT sum(revenue) FROM {curated.ident}").collect()[0]
    assert total == sum(r[6] for r in sales)
    reasons = {r[0]: r[1] for r in spark.sql(f"SELECT quarantine_id, reason FROM {quarantine.ident}").collect()}
    assert reasons == {r[0]: r[2] for r in bad}

    code, out, err = cli("migrate", "--lake", str(lake))  # again: nothing to do, the same rows
    assert code == 0, err
    assert out.startswith(f"Nothing to migrate in {lake}")
    assert ids(spark, curated) == sorted(r[0] for r in sales)
    assert len(list((lake / "_migrated").iterdir())) == 1


def test_a_migration_that_crashed_after_moving_the_folders_aside_resumes(spark, cli, old_lake):
    lake, sales, bad = old_lake
    moved = migrate.move_aside(spark, str(lake))  # step 1 only: the crash came before the MERGE
    assert len(moved) == 2 and not (lake / "curated" / "sales").exists()
    assert len(migrate.pending(spark, str(lake))) == 1

    code, out, err = cli("migrate", "--lake", str(lake))
    assert code == 0, err
    assert "Moved aside" not in out
    assert f"sales: read {len(sales)} rows from 1 folder(s) (0 duplicate keys), added {len(sales)}" in out
    curated, quarantine = tables_of(spark, lake)
    assert ids(spark, curated) == sorted(r[0] for r in sales)
    assert ids(spark, quarantine) == sorted(r[0] for r in bad)
    assert migrate.pending(spark, str(lake)) == []


def test_history_branches_and_maintain_on_a_migrated_lake(spark, cli, old_lake):
    lake, sales, _ = old_lake
    assert cli("migrate", "--lake", str(lake))[0] == 0
    curated, _ = tables_of(spark, lake)
    # A commit that carries our summary keys (as the jobs' commits may), then an unpublished audit branch.
    spark.createDataFrame([line("new-1", 12)], CURATED_SCHEMA).writeTo(curated.ident).option(
        "snapshot-property.ecomflow.run-id", "run-7").append()
    iceberg.create_branch(spark, curated, "audit_failed_run")
    iceberg.merge_new_rows(spark, curated, spark.createDataFrame([line("unpublished", 12)], CURATED_SCHEMA),
                           branch="audit_failed_run")

    code, out, err = cli("history", "--lake", str(lake), "--json")
    assert code == 0, err
    snapshots = json.loads(out)
    assert [s["committed_at"] for s in snapshots] == sorted((s["committed_at"] for s in snapshots), reverse=True)
    by_run = [s for s in snapshots if s["run_id"] == "run-7"]
    assert len(by_run) == 1 and by_run[0]["added_records"] == 1 and by_run[0]["on_main"] is True
    assert by_run[0]["total_records"] == len(sales) + 1
    branch_only = [s for s in snapshots if not s["on_main"]]
    assert len(branch_only) == 1 and branch_only[0]["added_records"] == 1
    code, out, _ = cli("history", "--lake", str(lake), "--table", "sales", "--limit", "1")
    assert code == 0 and "1 snapshot(s), newest first" in out and "run id" not in out

    code, out, err = cli("branches", "--lake", str(lake), "--json")
    assert code == 0, err
    assert [(b["table"], b["name"]) for b in json.loads(out)] == [("sales", "audit_failed_run")]
    code, _, err = cli("branches", "--lake", str(lake), "--drop", "audit_nope")
    assert code == 2 and "no branch audit_nope (the branches are: audit_failed_run)" in err
    code, out, err = cli("branches", "--lake", str(lake), "--drop-older-than", "3", "--json")
    assert code == 0 and json.loads(out) == []  # younger than 3 days: kept
    code, out, err = cli("branches", "--lake", str(lake), "--drop", "audit_failed_run", "--json")
    assert code == 0, err
    assert [b["name"] for b in json.loads(out)] == ["audit_failed_run"]
    assert iceberg.branches(spark, curated) == []

    code, out, err = cli("maintain", "--lake", str(lake), "--keep-snapshots", "1", "--snapshot-age-days",
                         "0", "--json")
    assert code == 0, err
    counts = {row["table"]: row for row in json.loads(out)}
    assert set(counts) == {"sales", "sales_quarantine"}
    assert counts["sales"]["rewritten_data_files"] >= 2  # the month's small files were compacted
    assert spark.table(f"{curated.ident}.snapshots").count() == 1
    assert ids(spark, curated) == sorted([r[0] for r in sales] + ["new-1"])


def test_local_athena_travels_to_a_snapshot_spark_committed(spark, cli, old_lake):
    from ecomflow.local.athena_local import LocalAthena
    from ecomflow.stores import catalog

    lake, sales, _ = old_lake
    assert cli("migrate", "--lake", str(lake))[0] == 0
    curated, _ = tables_of(spark, lake)
    migrated = iceberg.current_snapshot_id(spark, curated)
    iceberg.merge_new_rows(spark, curated, spark.createDataFrame([line("later", 12)], CURATED_SCHEMA))
    spec = next(s for s in catalog.lake_tables("file:///unused") if s.name == "sales")
    entry = catalog.table_input(spec)
    entry.update(PartitionKeys=[], Parameters={"table_type": "ICEBERG",
                                               "metadata_location": iceberg.metadata_location(spark, curated)})
    entry["StorageDescriptor"]["Columns"] = [{"Name": f.name, "Type": catalog.glue_type(f.dataType)}
                                             for f in CURATED_SCHEMA.fields]
    athena = LocalAthena("ecomflow")
    athena.add_table(entry)
    assert athena.sql("SELECT count(*) FROM ecomflow.sales").rows == [(len(sales) + 1,)]
    then = athena.sql(f"SELECT count(*), sum(revenue) FROM ecomflow.sales FOR VERSION AS OF {migrated}").rows
    assert then == [(len(sales), sum(r[6] for r in sales))]
    (published,) = spark.sql(f"SELECT max(unix_millis(made_current_at)) FROM {curated.ident}.history "
                             f"WHERE snapshot_id = {migrated}").collect()[0]
    stamp = datetime.fromtimestamp(published / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    assert athena.sql(f"SELECT count(*) FROM ecomflow.sales FOR TIMESTAMP AS OF TIMESTAMP '{stamp} UTC'").rows == [
        (len(sales),)]
    from ecomflow.errors import InputError

    with pytest.raises(InputError, match="ecomflow.sales has no snapshot 12345"):
        athena.sql("SELECT count(*) FROM ecomflow.sales FOR VERSION AS OF 12345")

    # `ecomflow sql` over a Glue database (moto) whose Iceberg table names that metadata file, as on AWS.
    from ecomflow import aws

    glue = aws.client("glue")
    database = f"travel_{lake.parent.name[-12:].lower().replace('-', '_')}"
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(DatabaseName=database, TableInput={k: v for k, v in entry.items() if k != "DatabaseName"})
    code, out, err = cli("sql", f"SELECT count(*) AS n FROM ecomflow.sales FOR VERSION AS OF {migrated}",
                         "--database", database, "--json")
    assert code == 0, err
    assert json.loads(out) == [{"n": len(sales)}]
    code, _, err = cli("sql", "SELECT count(*) FROM ecomflow.sales FOR VERSION AS OF 12345",
                       "--database", database)
    assert code == 2 and f"{database}.sales has no snapshot 12345" in err


def test_a_lake_without_iceberg_tables_or_a_missing_lake_is_one_line(spark, local_stack, cli, tmp_path):
    code, _, err = cli("history", "--lake", str(tmp_path / "nowhere"))
    assert code == 2 and f"no lake at {tmp_path / 'nowhere'}" in err
    (tmp_path / "plain").mkdir()
    code, _, err = cli("branches", "--lake", str(tmp_path / "plain"))
    assert code == 2 and "has no Iceberg tables yet" in err and "ecomflow migrate" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("migrate", "--lake", str(tmp_path / "plain"))
    assert code == 2 and f"no lake to migrate at {tmp_path / 'plain'}" in err
    assert not (tmp_path / "plain" / "curated").exists()  # no table was made
