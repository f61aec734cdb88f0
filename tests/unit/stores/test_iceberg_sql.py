"""The Iceberg store's SQL, built without Spark: identifiers, partition filters, the MERGE, branch names."""

from __future__ import annotations

import pytest

from ecomflow.stores import iceberg


def tables():
    return iceberg.lake_tables("lake_1", "ecomflow", "file:///tmp/lake")


def test_tables_live_in_the_lake_zones_with_their_keys():
    curated, quarantine = tables()
    assert (curated.ident, curated.location, curated.key, curated.partitions) == (
        "`lake_1`.`ecomflow`.`sales`", "file:///tmp/lake/curated/sales", "record_id", ("year", "month"))
    assert (quarantine.ident, quarantine.location, quarantine.key, quarantine.partitions) == (
        "`lake_1`.`ecomflow`.`sales_quarantine`", "file:///tmp/lake/quarantine/sales", "quarantine_id", ("reason",))
    assert curated.short == "ecomflow.sales"


def test_create_table_names_location_partitions_and_the_isolation_it_relies_on():
    sql = iceberg.create_table_sql(tables()[0])
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `lake_1`.`ecomflow`.`sales` (`record_id` string NOT NULL,")
    assert "`description` string," in sql and "`unit_price` decimal(12,3) NOT NULL" in sql
    assert "PARTITIONED BY (`year`, `month`) LOCATION 'file:///tmp/lake/curated/sales'" in sql
    for prop in ("'format-version' = '2'", "'write.merge.isolation-level' = 'serializable'",
                 "'write.merge.mode' = 'merge-on-read'", "'write.wap.enabled' = 'true'"):
        assert prop in sql


def test_partition_filter_quotes_values_and_is_false_for_no_partition():
    assert iceberg.partition_filter("t", ("year", "month"), [{"year": 2011, "month": 1}, {"year": 2011, "month": 12}]) \
        == "(t.`year` = 2011 AND t.`month` = 1) OR (t.`year` = 2011 AND t.`month` = 12)"
    assert iceberg.partition_filter(None, ("reason",), [{"reason": "bad'one\\"}]) == r"(`reason` = 'bad\'one\\')"
    assert iceberg.partition_filter("t", ("year",), []) == "false"
    with pytest.raises(ValueError):
        iceberg.partition_filter("t", ("year",), [{"year": None}])


def test_merge_keeps_a_matched_clause_so_iceberg_validates_the_commit():
    sql = iceberg.merge_sql(tables()[0], "v1", [{"year": 2011, "month": 12}], branch="audit_r1")
    assert sql == ("MERGE INTO `lake_1`.`ecomflow`.`sales`.`branch_audit_r1` t USING `v1` s "
                   "ON t.`record_id` = s.`record_id` AND ((t.`year` = 2011 AND t.`month` = 12)) "
                   "WHEN MATCHED AND false THEN DELETE WHEN NOT MATCHED THEN INSERT *")


def test_audit_branch_names_are_plain_identifiers_and_others_are_refused():
    assert iceberg.audit_branch("20111209T120000Z-1a2b3c4d") == "audit_20111209T120000Z_1a2b3c4d"
    with pytest.raises(ValueError):
        tables()[0].at("main; DROP TABLE x")


def test_a_summary_without_pinned_threads_is_refused_not_silently_lost():
    from types import SimpleNamespace

    from ecomflow.errors import ConfigError

    ran = []
    spark = SimpleNamespace(sparkContext=SimpleNamespace(_gateway=object()))  # py4j's JavaGateway, not a ClientServer
    with pytest.raises(ConfigError, match="PYSPARK_PIN_THREAD"):
        iceberg.with_commit_properties(spark, {"ecomflow.batch-id": "1"}, lambda: ran.append(1))
    assert ran == []
    iceberg.with_commit_properties(spark, None, lambda: ran.append(2))  # no summary: just runs
    assert ran == [2]
