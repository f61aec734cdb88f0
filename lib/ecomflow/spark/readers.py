"""Readers: raw input into DataFrames. The only place that knows the byte layout of the input."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from ecomflow.contract import RAW_HEADER
from ecomflow.errors import InputError

_BOM = "\ufeff"
_WHOLE_STRING = 2**31 - 1
# A header is compared without case, quotes or whitespace: `"InvoiceNo", "StockCode", ...` is one too.
_HEADER_NOISE = r'[\s"]'
HEAD_BYTES = 64 * 1024  # what the gate reads of each file: its first line, and enough to tell text from binary
HEAD_READERS = 8  # files whose heads are read at once (one round trip each on S3)


def header_key(line: str) -> str:
    """`line` as header lines are compared: upper case, without quotes or whitespace."""
    return re.sub(_HEADER_NOISE, "", line).upper()


HEADER_KEY = header_key(RAW_HEADER)


def is_header_line(raw_line: Column) -> Column:
    """True where `raw_line` is the raw header (`header_key` equal to the header's)."""
    # Data lines start with a digit (or C/A); only the others are compared with the header.
    starts_with_digit = F.substring(raw_line, 1, 1).between("0", "9")
    return ~starts_with_digit & (F.upper(F.regexp_replace(raw_line, _HEADER_NOISE, "")) == HEADER_KEY)


@dataclass(frozen=True)
class FileHead:
    """The first bytes of one input file as the text source reads them (decompressed by its extension)."""

    uri: str
    data: bytes
    error: str | None = None  # why the file could not be read (a `.gz` that is not gzip, ...)


def read_raw_lines(spark: SparkSession, uri: str | list[str], encoding: str) -> DataFrame:
    """Read the data lines of the raw CSV file(s) at `uri` (file, folder or list of files) as text, headers removed.

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
    return (
        text.where(F.col("value") != "")
        .select(line.alias("raw_line"), F.input_file_name().alias("source"),
                F.monotonically_increasing_id().alias("line_no"))
        .where(~is_header_line(F.col("raw_line")))
    )


def list_input_files(spark: SparkSession, uri: str) -> list[str]:
    """The files the text source reads at `uri` (hidden `_`/`.` files left out, as Spark does), sorted.

    Raises:
        InputError: the path does not exist.
    """
    try:
        return sorted(spark.read.text(uri).inputFiles())
    except AnalysisException as exc:
        raise InputError(f"cannot read input {uri}: {exc}") from exc


def read_file_heads(spark: SparkSession, files: list[str], size: int = HEAD_BYTES) -> list[FileHead]:
    """The first `size` bytes of each file, decompressed as the text source would (Hadoop's codec by extension).

    Driver-side reads of a few KiB, no Spark job; a few files at a time, since on S3 each is a round trip.
    """
    jvm: Any = spark.sparkContext._jvm  # py4j: untyped
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf)

    def head(uri: str) -> FileHead:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        codec = codecs.getCodec(path)
        try:
            raw = path.getFileSystem(conf).open(path)
            try:
                # Closing the codec's stream closes the file too and returns its decompressor to the pool.
                stream = codec.createInputStream(raw) if codec is not None else raw
            except Py4JJavaError:
                raw.close()
                raise
            try:
                data = bytes(stream.readNBytes(size))
            finally:
                stream.close()
        except Py4JJavaError as exc:
            return FileHead(uri, b"", error=str(exc.java_exception.toString()).splitlines()[0])
        return FileHead(uri, data)

    if len(files) <= 1:
        return [head(uri) for uri in files]
    with ThreadPoolExecutor(max_workers=min(HEAD_READERS, len(files)), thread_name_prefix="file-heads") as pool:
        return list(pool.map(head, files))
