"""Readers: raw input into DataFrames. The only place that knows the byte layout of the input."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from ecomflow.errors import InputError
from ecomflow.schemas import RAW_HEADER

# The CSV reader is used only to split lines and decode the charset (the text source knows
# UTF-8 only). Its field separator is a run of control characters that no line contains, and
# quoting is off, so every line arrives whole in one column.
_WHOLE_LINE = {"sep": "\u0000\u0002\u0003\u0004", "quote": "", "escape": "", "header": "false",
               "comment": "", "mode": "PERMISSIVE", "maxCharsPerColumn": "-1"}


def read_raw_lines(spark: SparkSession, uri: str, encoding: str) -> DataFrame:
    """Read the data lines of the raw CSV file(s) at `uri` as text, header lines removed.

    Returns `raw_line` (the line as written, BOM and line ending removed), `source` (the file
    it came from) and `line_no` (increasing in file order, for keeping the first duplicate).
    Gzip files are read as they are. Empty lines are not records and are skipped.

    Raises:
        InputError: the path does not exist.
    """
    try:
        text = spark.read.schema("raw_line string").options(encoding=encoding, **_WHOLE_LINE).csv(uri)
    except AnalysisException as exc:
        raise InputError(f"cannot read input {uri}: {exc}") from exc
    line = F.regexp_replace(F.col("raw_line"), "^\ufeff", "")
    is_header = F.upper(F.trim(line)) == RAW_HEADER.upper()
    return (
        text.where(F.col("raw_line").isNotNull())
        .select(line.alias("raw_line"), F.input_file_name().alias("source"),
                F.monotonically_increasing_id().alias("line_no"))
        .where(~is_header)
    )
