"""Readers: header lines, the input's file list and the heads of its files."""

from __future__ import annotations

import gzip

import pytest
from pyspark.sql import functions as F

from ecomflow.contract import RAW_HEADER
from ecomflow.errors import InputError
from ecomflow.spark.readers import is_header_line, list_input_files, read_file_heads, read_raw_lines

DATA_LINE = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"


def test_header_lines_are_recognised_without_case_quotes_or_whitespace(spark):
    lines = [RAW_HEADER, f"  {RAW_HEADER.lower()} ", ", ".join(f'"{f}"' for f in RAW_HEADER.split(",")),
             DATA_LINE, "InvoiceNo,StockCode", None]
    df = spark.createDataFrame([(v,) for v in lines], "v string")
    assert [r[0] for r in df.select(is_header_line(F.col("v"))).collect()] == [True, True, True, False, False, None]


def test_a_quoted_header_is_not_read_as_data(spark, tmp_path):
    quoted = ",".join(f'"{f}"' for f in RAW_HEADER.split(","))
    (tmp_path / "in.csv").write_text(f"{quoted}\n{DATA_LINE}\n", encoding="latin-1")
    assert [r.raw_line for r in read_raw_lines(spark, f"file://{tmp_path}/in.csv", "ISO-8859-1").collect()] == [
        DATA_LINE]


def test_the_input_files_are_listed_as_spark_reads_them(spark, tmp_path):
    for name in ("b.csv", "a.csv.gz", "_SUCCESS", ".hidden"):
        (tmp_path / name).write_bytes(b"")
    assert list_input_files(spark, f"file://{tmp_path}") == [f"file://{tmp_path}/a.csv.gz", f"file://{tmp_path}/b.csv"]
    with pytest.raises(InputError, match="cannot read input"):
        list_input_files(spark, f"file://{tmp_path}/absent")


def test_file_heads_are_decompressed_by_extension_and_bounded(spark, tmp_path):
    body = f"{RAW_HEADER}\n{DATA_LINE}\n".encode("latin-1")
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(body))
    (tmp_path / "b.csv").write_bytes(gzip.compress(body))  # gzip bytes under a text name: read as they are
    (tmp_path / "c.csv").write_bytes(b"")
    (tmp_path / "d.csv.gz").write_bytes(body)  # not gzip data
    files = list_input_files(spark, f"file://{tmp_path}")
    heads = {h.uri.rsplit("/", 1)[-1]: h for h in read_file_heads(spark, files, size=100)}
    assert heads["a.csv.gz"].data == body[:100] and heads["a.csv.gz"].error is None
    assert heads["b.csv"].data[:2] == b"\x1f\x8b"
    assert heads["c.csv"].data == b"" and heads["c.csv"].error is None
    assert heads["d.csv.gz"].data == b"" and "gzip" in heads["d.csv.gz"].error.lower()
