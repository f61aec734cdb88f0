"""The Glue Data Catalog sink: table and partition inputs, chunking and per-entry errors (Stubber)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber
from pyspark.sql import types as T

from ecomflow.app import batch_job
from ecomflow.config import BatchConfig
from ecomflow.errors import PublishError
from ecomflow.stores import catalog


@pytest.fixture
def glue():
    return boto3.client("glue", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def curated_spec():
    return catalog.lake_tables("s3://bucket/lake")[0]


def test_glue_types_of_the_curated_contract():
    assert catalog.glue_type(T.DecimalType(12, 3)) == "decimal(12,3)"
    assert catalog.glue_type(T.DecimalType(18, 3)) == "decimal(18,3)"
    assert catalog.glue_type(T.TimestampType()) == "timestamp"
    assert catalog.glue_type(T.IntegerType()) == "int"
    assert catalog.glue_type(T.StringType()) == "string"


def test_curated_table_input_has_data_columns_and_partition_keys_apart():
    table = catalog.table_input(curated_spec())
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert table["Name"] == "sales"
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}]
    assert "year" not in columns and "month" not in columns
    assert columns["unit_price"] == "decimal(12,3)"
    assert columns["revenue"] == "decimal(18,3)"
    assert columns["invoice_ts"] == "timestamp"
    assert columns["quantity"] == "int"
    assert columns["customer_id"] == "string"


def test_curated_table_input_is_external_parquet_at_the_lake_location():
    table = catalog.table_input(curated_spec())
    descriptor = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["classification"] == "parquet"
    assert descriptor["Location"] == "s3://bucket/lake/curated/sales"
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == \
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert descriptor["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"


def test_quarantine_table_is_partitioned_by_reason():
    table = catalog.table_input(catalog.lake_tables("s3://bucket/lake")[1])
    assert table["Name"] == "sales_quarantine"
    assert table["PartitionKeys"] == [{"Name": "reason", "Type": "string"}]
    assert table["StorageDescriptor"]["Location"] == "s3://bucket/lake/quarantine/sales"


def test_partition_input_values_and_location():
    entry = catalog.partition_input("s3://bucket/lake/curated/sales", "year=2011/month=12")
    assert entry["Values"] == ["2011", "12"]
    assert entry["StorageDescriptor"]["Location"] == "s3://bucket/lake/curated/sales/year=2011/month=12"


def test_registered_partitions_carry_the_tables_columns(glue):
    sent = []
    glue.meta.events.register("provide-client-params.glue.BatchCreatePartition",
                              lambda params, **_: sent.extend(params["PartitionInputList"]))
    curated, quarantine = catalog.lake_tables("s3://bucket/lake")
    with Stubber(glue) as stub:
        for _ in range(2):  # the stub checks each call against botocore's model of PartitionInput
            stub.add_response("batch_create_partition", {}, None)
        catalog.register_partitions(glue, "db", "sales", curated.location, ["year=2011/month=1"],
                                    catalog.data_columns(curated))
        catalog.register_partitions(glue, "db", "sales_quarantine", quarantine.location, ["reason=zero_quantity"],
                                    catalog.data_columns(quarantine))
    sales_entry, quarantine_entry = sent
    table = catalog.table_input(curated)
    assert sales_entry["StorageDescriptor"]["Columns"] == table["StorageDescriptor"]["Columns"] != []
    assert [c["Name"] for c in quarantine_entry["StorageDescriptor"]["Columns"]] == [
        "quarantine_id", "raw_line", "source", "ingested_at"]


def test_partition_values_reject_a_path_that_is_not_hive_style():
    with pytest.raises(ValueError):
        catalog.partition_values("2011/12")


def test_register_partitions_chunks_to_100_and_updates_those_that_exist(glue):
    partitions = [f"year={2000 + i // 12}/month={i % 12 + 1}" for i in range(150)]
    with Stubber(glue) as stub:
        stub.add_response("batch_create_partition", {}, {
            "DatabaseName": "db", "TableName": "sales", "PartitionInputList": ANY})
        stub.add_response("batch_create_partition", {"Errors": [{
            "PartitionValues": ["2012", "1"],
            "ErrorDetail": {"ErrorCode": "AlreadyExistsException", "ErrorMessage": "exists"}}]},
            {"DatabaseName": "db", "TableName": "sales", "PartitionInputList": ANY})
        stub.add_response("batch_update_partition", {}, {"DatabaseName": "db", "TableName": "sales", "Entries": [{
            "PartitionValueList": ["2012", "1"],
            "PartitionInput": catalog.partition_input("s3://b/t", "year=2012/month=1")}]})
        result = catalog.register_partitions(glue, "db", "sales", "s3://b/t", partitions)
        stub.assert_no_pending_responses()
    assert result.updated == ("year=2012/month=1",)
    assert len(result.created) == 149


def test_register_partitions_sends_at_most_100_a_call(glue):
    sizes = []
    glue.meta.events.register("provide-client-params.glue.BatchCreatePartition",
                              lambda params, **_: sizes.append(len(params["PartitionInputList"])))
    with Stubber(glue) as stub:
        for _ in range(3):
            stub.add_response("batch_create_partition", {})
        catalog.register_partitions(glue, "db", "sales_quarantine", "s3://b/q",
                                    [f"reason=r{i}" for i in range(201)])
    assert sizes == [100, 100, 1]


def test_register_partitions_raises_on_another_entry_error(glue):
    with Stubber(glue) as stub:
        stub.add_response("batch_create_partition", {"Errors": [{
            "PartitionValues": ["2011", "1"],
            "ErrorDetail": {"ErrorCode": "InvalidInputException", "ErrorMessage": "bad location"}}]})
        with pytest.raises(PublishError, match="InvalidInputException"):
            catalog.register_partitions(glue, "db", "sales", "s3://b/t", ["year=2011/month=1"])


def test_ensure_table_updates_a_table_that_exists(glue):
    spec = curated_spec()
    with Stubber(glue) as stub:
        stub.add_client_error("create_table", "AlreadyExistsException")
        stub.add_response("get_table", {"Table": {"Name": "sales", "Parameters": {"classification": "parquet"}}},
                          {"DatabaseName": "db", "Name": "sales"})
        stub.add_response("update_table", {}, {"DatabaseName": "db", "TableInput": catalog.table_input(spec)})
        assert catalog.ensure_table(glue, "db", spec) == "updated"


def test_an_iceberg_table_is_left_alone_and_gets_no_partitions(glue):
    iceberg = {"Table": {"Name": "t", "Parameters": {"table_type": "ICEBERG", "metadata_location": "s3://m.json"}}}
    with Stubber(glue) as stub:  # no update_table, no batch_create_partition: the stub would fail on them
        stub.add_response("create_database", {})
        for name in ("sales", "sales_quarantine"):
            stub.add_client_error("create_table", "AlreadyExistsException")
            stub.add_response("get_table", {"Table": {**iceberg["Table"], "Name": name}},
                              {"DatabaseName": "db", "Name": name})
        result = catalog.register_run(glue, "db", "s3://lake", ["year=2011/month=1"], ["reason=zero_quantity"])
        stub.assert_no_pending_responses()
    assert result == {"sales": catalog.PartitionResult(), "sales_quarantine": catalog.PartitionResult()}


def test_no_hook_without_a_catalog_database():
    assert batch_job.catalog_hook(BatchConfig(input_uri="file:///in", lake_uri="file:///lake")) is None
