"""The Glue Data Catalog: the database, the lake's tables and their partitions (moto locally).

Every call is idempotent: a database or table that exists is kept (tables are updated to the
current schema), and partitions are created in chunks of Glue's limit with the ones that already
exist updated in place, so registering the same run twice leaves the catalog as after once.

    register_run(aws.client("glue"), database, lake_uri, curated_partitions, quarantine_partitions)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pyspark.sql import types as T

from ecomflow import contract
from ecomflow.errors import PublishError
from ecomflow.spark.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA

log = logging.getLogger(__name__)

PARTITION_BATCH_LIMIT = 100  # BatchCreatePartition and BatchUpdatePartition take at most 100 entries

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"

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


@dataclass(frozen=True)
class PartitionResult:
    """What `register_partitions` did: partitions created, and partitions that existed and were updated."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()


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


def storage_descriptor(location: str, columns: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A parquet StorageDescriptor for a table (with columns) or a partition (location only needed)."""
    descriptor: dict[str, Any] = {
        "Location": location,
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": True,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        "StoredAsSubDirectories": False,
    }
    if columns is not None:
        descriptor["Columns"] = columns
    return descriptor


def data_columns(spec: TableSpec) -> list[dict[str, str]]:
    """The table's data columns (partition keys left out) as Glue `Column`s."""
    return [{"Name": f.name, "Type": glue_type(f.dataType)} for f in spec.schema.fields
            if f.name not in spec.partition_keys]


def table_input(spec: TableSpec) -> dict[str, Any]:
    """The TableInput of CreateTable/UpdateTable: data columns, partition keys, parquet SerDe."""
    by_name = {f.name: f for f in spec.schema.fields}
    columns = data_columns(spec)
    keys = [{"Name": name, "Type": glue_type(by_name[name].dataType) if name in by_name else "string"}
            for name in spec.partition_keys]
    return {
        "Name": spec.name,
        "Description": spec.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"},
        "PartitionKeys": keys,
        "StorageDescriptor": storage_descriptor(spec.location, columns),
    }


def partition_values(partition_path: str) -> list[str]:
    """The values of a hive-style partition path: `year=2011/month=1` -> `["2011", "1"]`."""
    values = []
    for part in partition_path.strip("/").split("/"):
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise ValueError(f"not a hive-style partition path: {partition_path!r}")
        values.append(unquote(value))
    return values


def partition_input(table_location: str, partition_path: str,
                    columns: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The PartitionInput of one partition directory under `table_location`.

    `columns` are the table's data columns: a partition's storage descriptor carries its own
    schema (Athena, Spark and Redshift Spectrum read a partition by it), so one without columns
    reads as a partition of no columns.
    """
    return {
        "Values": partition_values(partition_path),
        "StorageDescriptor": storage_descriptor(f"{table_location}/{partition_path.strip('/')}", columns),
        "Parameters": {"classification": "parquet"},
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


ICEBERG = "iceberg"  # what `ensure_table` answers for a table it leaves alone


def is_iceberg(table: dict[str, Any]) -> bool:
    """Whether a GetTable answer is an Apache Iceberg table (`table_type` ICEBERG, as Glue and Iceberg mark it)."""
    return str(table.get("Parameters", {}).get("table_type", "")).upper() == "ICEBERG"


def ensure_table(glue: Any, database: str, spec: TableSpec) -> str:
    """Create the table, or update it to the current definition; returns "created", "updated" or "iceberg".

    An Iceberg table (the stack creates the lake's tables so) is left alone: a Hive TableInput
    would drop its `metadata_location` and with it the table's snapshots.
    """
    definition = table_input(spec)
    try:
        glue.create_table(DatabaseName=database, TableInput=definition)
    except glue.exceptions.AlreadyExistsException:
        if is_iceberg(glue.get_table(DatabaseName=database, Name=spec.name)["Table"]):
            return ICEBERG
        glue.update_table(DatabaseName=database, TableInput=definition)
        return "updated"
    log.info("created Glue table %s.%s at %s", database, spec.name, spec.location)
    return "created"


def ensure_catalog(glue: Any, database: str, lake_uri: str) -> dict[str, str]:
    """Create (or update) the database and every lake table; what `ensure_table` did with each, by name."""
    ensure_database(glue, database)
    return {spec.name: ensure_table(glue, database, spec) for spec in lake_tables(lake_uri)}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _failed(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e.get('PartitionValues') or e.get('PartitionValueList')}: "
                     f"{e.get('ErrorDetail', {}).get('ErrorCode')} {e.get('ErrorDetail', {}).get('ErrorMessage')}"
                     for e in errors)


def register_partitions(glue: Any, database: str, table: str, table_location: str,
                        partitions: Sequence[str], columns: list[dict[str, str]] | None = None) -> PartitionResult:
    """Add the partitions to the table, updating the ones that already exist (idempotent).

    Args:
        glue: a boto3 Glue client.
        partitions: hive-style relative paths, e.g. `("year=2011/month=1",)`.
        columns: the table's data columns, written into every partition's storage descriptor.

    Raises:
        PublishError: Glue rejected an entry for another reason than AlreadyExists.
    """
    inputs = {tuple(partition_values(p)): (p, partition_input(table_location, p, columns)) for p in partitions}
    created: list[str] = []
    existing: list[tuple[str, dict[str, Any]]] = []
    for chunk in _chunks(list(inputs.values()), PARTITION_BATCH_LIMIT):
        response = glue.batch_create_partition(DatabaseName=database, TableName=table,
                                               PartitionInputList=[entry for _, entry in chunk])
        errors = response.get("Errors", [])
        already = {tuple(e["PartitionValues"]) for e in errors
                   if e.get("ErrorDetail", {}).get("ErrorCode") == "AlreadyExistsException"}
        other = [e for e in errors if tuple(e.get("PartitionValues", ())) not in already]
        if other:
            raise PublishError(f"Glue refused partitions of {database}.{table}: {_failed(other)}")
        for path, entry in chunk:
            if tuple(entry["Values"]) in already:
                existing.append((path, entry))
            else:
                created.append(path)
    for chunk in _chunks(existing, PARTITION_BATCH_LIMIT):
        response = glue.batch_update_partition(DatabaseName=database, TableName=table, Entries=[
            {"PartitionValueList": entry["Values"], "PartitionInput": entry} for _, entry in chunk])
        if response.get("Errors"):
            raise PublishError(f"Glue could not update partitions of {database}.{table}: "
                               f"{_failed(response['Errors'])}")
    log.info("catalog %s.%s: %d partitions created, %d updated", database, table, len(created), len(existing))
    return PartitionResult(tuple(created), tuple(path for path, _ in existing))


def register_run(glue: Any, database: str, lake_uri: str, curated_partitions: Sequence[str],
                 quarantine_partitions: Sequence[str]) -> dict[str, PartitionResult]:
    """Make sure the catalog holds the lake's tables, then register one run's touched partitions.

    Iceberg tables keep their partitions in their own metadata: none are registered for them.
    """
    states = ensure_catalog(glue, database, lake_uri)
    curated, quarantine = lake_tables(lake_uri)
    touched = {curated.name: curated_partitions, quarantine.name: quarantine_partitions}
    return {spec.name: (PartitionResult() if states[spec.name] == ICEBERG else
                        register_partitions(glue, database, spec.name, spec.location, touched[spec.name],
                                            data_columns(spec)))
            for spec in (curated, quarantine)}
