"""Rebuild the lake from the stream's raw archive: `ecomflow batch --input_format stream-archive`.

The archive (`stores.stream_archive`: Firehose's objects under `raw/stream/`, one record a line)
holds what the stream carried, JSON records of the raw CSV fields. The batch job reads CSV, so
the run first rewrites the archive as CSV under the lake's `_runs/` with the streaming job's own
reading of each record (`pipelines.stream.to_raw_lines`: the same strict JSON decoding), every
field quoted so that the batch parser gives back exactly the strings the streaming job saw; the
batch job then cleans those lines as usual. `classify_lines` gets the same field values either
way, so each line keeps the `record_id` the stream gave it, and the usual merge by `record_id`
makes the replay idempotent against what the stream already published.

A record that is not a JSON object of raw fields is quarantined in both paths, but with its text
in InvoiceNo here (so with another reason code than the stream's).
"""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomflow.config import INPUT_FORMATS, BatchConfig
from ecomflow.contract import RAW_FIELDS
from ecomflow.pipelines.stream import to_raw_lines

INPUT_FORMAT_CSV, INPUT_FORMAT_STREAM_ARCHIVE = INPUT_FORMATS


def archive_records(spark: SparkSession, archive_uri: str):  # noqa: ANN201 - a DataFrame of `data`, `line_no`
    """The archive's records (their bytes) in file order, as the streaming job's source hands them over."""
    lines = (spark.read.option("recursiveFileLookup", "true").option("lineSep", "\n")
             .text(archive_uri))
    return lines.select(F.encode(F.col("value"), "UTF-8").alias("data"),
                        F.monotonically_increasing_id().alias("line_no"))


def write_archive_as_csv(spark: SparkSession, archive_uri: str, csv_uri: str) -> str:
    """Write the archive's records as raw CSV (header, every field quoted) under `csv_uri`; return it."""
    raw = archive_records(spark, archive_uri).transform(to_raw_lines)
    no_fields = F.coalesce(*[F.col(name) for name in RAW_FIELDS]).isNull()
    columns = [F.when(no_fields & F.lit(name == RAW_FIELDS[0]), F.col("raw_line")).otherwise(F.col(name)).alias(name)
               for name in RAW_FIELDS]
    (raw.orderBy("line_no").select(*columns).write.mode("overwrite")
     .option("header", True).option("quoteAll", True).option("escape", '"')
     .option("ignoreLeadingWhiteSpace", False).option("ignoreTrailingWhiteSpace", False)
     .option("encoding", "UTF-8").option("lineSep", "\n").csv(csv_uri))
    return csv_uri


def replay_config(spark: SparkSession, config: BatchConfig, run_id: str) -> BatchConfig:
    """The config a stream-archive run goes on with: its CSV rewrite as the UTF-8 input (CSV runs unchanged)."""
    if config.input_format != INPUT_FORMAT_STREAM_ARCHIVE:
        return config
    csv_uri = write_archive_as_csv(spark, config.input_uri, f"{config.runs_uri}/{run_id}-stream-archive")
    return replace(config, input_uri=csv_uri, encoding="UTF-8", input_format=INPUT_FORMAT_CSV)
