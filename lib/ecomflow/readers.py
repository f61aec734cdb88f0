"""Readers: raw input into DataFrames. The only place that knows the byte layout of the input."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from ecomflow.errors import InputError
from ecomflow.schemas import RAW_HEADER

_BOM = "\ufeff"
_WHOLE_STRING = 2**31 - 1


def read_raw_lines(spark: SparkSession, uri: str, encoding: str) -> DataFrame:
    """Read the data lines of the raw CSV file(s) at `uri` as text, header lines removed.

    Returns `raw_line` (the line as written, decoded from `encoding`, BOM and line ending removed),
    `source` (the file it came from) and `line_no` (increasing in file order, for keeping the first
    duplicate). Gzip files are read as they are. Empty lines are not records and are skipped.

    The text source splits lines without decoding them (its strings hold the file's bytes), so each
    line is decoded here from its bytes: exact for ISO-8859-1, and several times cheaper than
    Spark's CSV reader, which would decode and then parse a grammar that is checked later anyway.

    Raises:
        InputError: the path does not exist.
    """
    try:
        text = spark.read.text(uri)
    except AnalysisException as exc:
        raise InputError(f"cannot read input {uri}: {exc}") from exc
    decoded = F.decode(F.col("value").cast("binary"), encoding)
    line = F.when(decoded.startswith(_BOM), F.substring(decoded, 2, _WHOLE_STRING)).otherwise(decoded)
    # Data lines start with a digit (or C/A); only the others are compared with the header.
    starts_with_digit = F.substring(F.col("raw_line"), 1, 1).between("0", "9")
    is_header = ~starts_with_digit & (F.upper(F.trim(F.col("raw_line"))) == RAW_HEADER.upper())
    return (
        text.where(F.col("value") != "")
        .select(line.alias("raw_line"), F.input_file_name().alias("source"),
                F.monotonically_increasing_id().alias("line_no"))
        .where(~is_header)
    )
