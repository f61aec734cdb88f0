"""The Glue Data Catalog's view of the lake: the database and its Iceberg tables (moto locally).

On AWS the lake's Iceberg catalog is the Glue Data Catalog itself (`spark.sql.catalog.lake`,
GlueCatalog): every commit moves the Glue table's `metadata_location`, and the CloudFormation stack
declares the tables. Where the Iceberg catalog is another one (the local JDBC catalog), the batch
job mirrors the published state here as GlueCatalog writes it (`register_tables`), so that the
Glue tables Athena and its local stand-in read name the snapshot readers should see. Iceberg tables
keep their partitions in their own metadata: the Glue table has none.

Every call is idempotent: a database or table that exists is kept, tables are updated in place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import types as T

from ecomflow import contract
from ecomflow.spark.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA

log = logging.getLogger(__name__)

_SIMPLE_TYPES: dict[type[T.DataType], str] = {
    T.StringType: "string",
    T.IntegerType: "int",
    T.LongType: "bigint",
    T.ShortType: "smallint",
    T.ByteType: "tinyint",
    T.BooleanType: "boolean",
    T.DoubleType: "double",
    T.FloatType: "float",
    T.DateType: "date",
    T.TimestampType: "timestamp",
    T.BinaryType: "binary",
}


@dataclass(frozen=True)
class TableSpec:
    """One lake table as the catalog sees it: name, location, columns and partition keys."""

    name: str
    location: str
    schema: T.StructType
    partition_keys: tuple[str, ...]
    description: str


def glue_type(data_type: T.DataType) -> str:
    """The Glue/Hive type name of a Spark type: `decimal(12,3)`, `timestamp`, `int`, `string`...

    Raises:
        ValueError: a type the lake never writes (maps, structs, arrays).
    """
    if isinstance(data_type, T.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    for spark_type, name in _SIMPLE_TYPES.items():
        if isinstance(data_type, spark_type):
            return name
    raise ValueError(f"no Glue type for {data_type.simpleString()}")


def lake_tables(lake_uri: str) -> tuple[TableSpec, ...]:
    """The lake's tables: curated `sales` (by year/month) and `sales_quarantine` (by reason)."""
    return (
        TableSpec(contract.CURATED_TABLE, contract.zone_uri(lake_uri, contract.CURATED_ZONE),
                  CURATED_SCHEMA, CURATED_PARTITIONS,
                  "Curated Online Retail lines, one row per distinct line; money is decimal"),
        TableSpec(contract.QUARANTINE_TABLE, contract.zone_uri(lake_uri, contract.QUARANTINE_ZONE),
                  QUARANTINE_SCHEMA, QUARANTINE_PARTITIONS,
                  "Raw lines that cannot be valid sales lines, with their reason code"),
    )


def columns(spec: TableSpec) -> list[dict[str, str]]:
    """Every column of the table as a Glue `Column`, partition columns included (Iceberg's GlueCatalog lists all)."""
    return [{"Name": f.name, "Type": glue_type(f.dataType)} for f in spec.schema.fields]


def table_input(spec: TableSpec, metadata_location: str | None = None) -> dict[str, Any]:
    """The TableInput of an Iceberg table, as Iceberg's GlueCatalog writes it.

    `table_type` ICEBERG and the `metadata_location` of the table's current state; no partition
    keys; the columns for tools that show them (Athena reads the schema from the metadata).
    Without a metadata location (nothing published yet) readers see an empty table.
    """
    parameters = {"table_type": "ICEBERG", "EXTERNAL": "TRUE"}
    if metadata_location:
        parameters["metadata_location"] = metadata_location
    return {
        "Name": spec.name,
        "Description": spec.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": [],
        "StorageDescriptor": {"Location": spec.location, "Columns": columns(spec)},
    }


def ensure_database(glue: Any, database: str) -> bool:
    """Create the catalog database unless it exists; return True if it was created."""
    try:
        glue.create_database(DatabaseInput={"Name": database,
                                            "Description": "EcomFlow lake tables (curated sales, quarantine)"})
    except glue.exceptions.AlreadyExistsException:
        return False
    log.info("created Glue database %s", database)
    return True


def is_iceberg(table: dict[str, Any]) -> bool:
    """Whether a GetTable answer is an Apache Iceberg table (`table_type` ICEBERG, as Glue and Iceberg mark it)."""
    return str(table.get("Parameters", {}).get("table_type", "")).upper() == "ICEBERG"


def register_tables(glue: Any, database: str, lake_uri: str,
                    metadata_locations: Mapping[str, str | None]) -> dict[str, str]:
    """Create or update the lake's tables to name their current metadata; what was done with each, by name.

    Args:
        metadata_locations: table name -> the metadata file of its published state.
    """
    ensure_database(glue, database)
    done = {}
    for spec in lake_tables(lake_uri):
        definition = table_input(spec, metadata_locations.get(spec.name))
        try:
            glue.create_table(DatabaseName=database, TableInput=definition)
            done[spec.name] = "created"
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=definition)
            done[spec.name] = "updated"
    log.info("Glue tables of %s in %s: %s", lake_uri, database, done)
    return done
