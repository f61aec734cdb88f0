"""The Glue Data Catalog's view of the lake: Iceberg TableInputs, created then updated (Stubber)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from pyspark.sql import types as T

from ecomflow.app import batch_job
from ecomflow.config import BatchConfig
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


def test_the_tables_are_iceberg_tables_as_glue_catalog_writes_them():
    table = catalog.table_input(curated_spec(), "s3://bucket/lake/curated/sales/metadata/00002-x.metadata.json")
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert table["Name"] == "sales" and table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["Parameters"]["metadata_location"].endswith("00002-x.metadata.json")
    assert table["PartitionKeys"] == []  # Iceberg keeps its partitions in its metadata
    assert table["StorageDescriptor"]["Location"] == "s3://bucket/lake/curated/sales"
    assert columns["year"] == columns["month"] == columns["quantity"] == "int"
    assert columns["unit_price"] == "decimal(12,3)" and columns["revenue"] == "decimal(18,3)"
    assert columns["invoice_ts"] == "timestamp" and columns["customer_id"] == "string"


def test_a_table_nothing_was_published_to_has_no_metadata_location():
    table = catalog.table_input(catalog.lake_tables("s3://bucket/lake")[1])
    assert table["Name"] == "sales_quarantine"
    assert "metadata_location" not in table["Parameters"]
    assert table["StorageDescriptor"]["Location"] == "s3://bucket/lake/quarantine/sales"


def test_register_tables_creates_then_updates_them_to_the_published_metadata(glue):
    locations = {"sales": "file:///lake/curated/sales/metadata/1.json", "sales_quarantine": None}
    specs = catalog.lake_tables("file:///lake")
    with Stubber(glue) as stub:  # each call checked against botocore's model of TableInput
        stub.add_response("create_database", {})
        stub.add_response("create_table", {}, {"DatabaseName": "db",
                                               "TableInput": catalog.table_input(specs[0], locations["sales"])})
        stub.add_client_error("create_table", "AlreadyExistsException")
        stub.add_response("update_table", {}, {"DatabaseName": "db", "TableInput": catalog.table_input(specs[1])})
        assert catalog.register_tables(glue, "db", "file:///lake", locations) == {
            "sales": "created", "sales_quarantine": "updated"}
        stub.assert_no_pending_responses()


def test_the_local_hook_leaves_the_glue_catalog_alone_where_it_is_the_iceberg_catalog():
    from ecomflow.runtime import LAKE_CATALOG
    from ecomflow.stores import iceberg

    hook = batch_job.catalog_hook(BatchConfig(input_uri="file:///in", lake_uri="s3://lake", catalog_database="db"))
    tables = iceberg.lake_tables(LAKE_CATALOG, "db", "s3://lake")
    staged = type("Staged", (), {"config": None, "curated": iceberg.StagedTable(tables[0], "b", ()),
                                 "quarantine": iceberg.StagedTable(tables[1], "b", ())})()
    assert hook is not None
    hook(None, staged)  # no Glue client, no Spark: GlueCatalog moved the tables at each commit


def test_no_hook_without_a_catalog_database():
    assert batch_job.catalog_hook(BatchConfig(input_uri="file:///in", lake_uri="file:///lake")) is None
