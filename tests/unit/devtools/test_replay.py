"""ecomflow replay: lines read and split exactly as the batch reader does; every line accepted or rejected."""

from __future__ import annotations

import bz2
import gzip
import json
import random

import pytest

from ecomflow.contract import RAW_FIELDS
from ecomflow.devtools.replay import read_lines, replay_file, split_line
from ecomflow.spark.readers import read_raw_lines
from ecomflow.spark.transforms import parse_raw_lines

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROW = "536365,85123A,HEART,{q},12/1/2010 8:26,2.55,17850,United Kingdom"

# Lines where a CSV reader could go wrong, with their line endings (LF, CRLF, a lone CR).
TRICKY = [
    HEADER.encode() + b"\r\n",
    ROW.format(q=1).encode() + b"\r\n",
    b'536366,22633,"HAND WARMER, ""UNION JACK""",6,12/1/2010 8:28,1.85,17850.0,United Kingdom\n',
    b'536371,22086,"PAPER CHAIN KIT 50\'S CHRISTMAS ,80,12/1/2010 9:00,2.55,13748,United Kingdom\n',  # unbalanced
    ROW.format(q=2).encode() + b"\n",  # batch reads it as a line of its own: so must replay
    b'536372,22,12" RULER,1,12/1/2010 9:00,2.55,13748,United Kingdom\n',  # a quote inside an unquoted field
    b'536373,22, "SPACE",1,12/1/2010 9:00,2.55,13748,United Kingdom\n',
    b'536374,22,"",1,12/1/2010 9:00,2.55,,"United Kingdom"\n',
    b"536375,22,SHORT,1,12/1/2010 9:00,2.55,13748\r",
    b"536376,22,LONG,1,12/1/2010 9:00,2.55,13748,France,\n",
    b"\n", b"\r\n", b"   \n",
    b"\xef\xbb\xbf" + ROW.format(q=3).encode() + b"\n",  # a BOM in the middle of the file
    b"  invoiceno,stockcode,description,quantity,invoicedate,unitprice,customerid,country  \n",  # a header again
    b'536377,22,"X",1,12/1/2010 9:00,2.55,1,"United Kingdom"\xe2\x80\xa8\n',  # U+2028 after a closing quote
    b'536378,22,"A\xc2\x85B",1,12/1/2010 9:00,2.55,1,United Kingdom\n',  # U+0085 inside a quoted field
    b"536379,22,BAD \xed\xa0\x80 \xed\xa0z \xff\xfe \xc3( \xe2\x82,1,12/1/2010 9:00,2.55,1,United Kingdom\n",
    b"536380,22,END \xed\xa0,1,12/1/2010 9:00,2.55,1,\xf0\x9f\x98\n",
    b"536381,22,LAST,1,12/1/2010 9:00,2.55,1,United Kingdom\r",  # a lone CR ends the file
]


def fuzz_lines(seed: int, count: int) -> list[bytes]:
    """Random lines of CSV syntax and awkward bytes (no line breaks inside a line)."""
    rng = random.Random(seed)
    tokens = [b",", b'"', b'""', b"a", b" ", b"1", b"\xc2\x85", b"\xe2\x80\xa8", b"\xed\xa0\x80", b"\xed\xa0",
              b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xff", b"\x85", b"\xef\xbb\xbf"]
    return [b"".join(rng.choice(tokens) for _ in range(rng.randint(0, 24))) + rng.choice([b"\n", b"\r\n", b"\r"])
            for _ in range(count)]


def batch_view(spark, path, encoding: str) -> list[tuple]:
    """(raw_line, parse_error, the eight raw fields) per line, in file order, as the batch job reads them."""
    lines = read_raw_lines(spark, f"file://{path}", encoding).transform(parse_raw_lines)
    rows = lines.orderBy("line_no").select("raw_line", "parse_error", *RAW_FIELDS).collect()
    return [tuple(row) for row in rows]


def replay_view(path, encoding: str) -> list[tuple]:
    view = []
    for line in read_lines(path, encoding):
        record, reason = split_line(line.text)
        view.append((line.text, reason, *(record[name] if record else None for name in RAW_FIELDS)))
    return view


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-8"])
def test_lines_and_fields_are_the_batch_readers(spark, tmp_path, encoding):
    path = tmp_path / "tricky.csv"
    path.write_bytes(b"".join(TRICKY + fuzz_lines(seed=7, count=3000)))
    expected = batch_view(spark, path, encoding)
    assert replay_view(path, encoding) == expected
    assert sum(1 for row in expected if row[1] == "malformed_csv") > 100  # the fuzz reached the grammar


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress)])
def test_compressed_files_are_read_as_the_batch_reader_reads_them(spark, tmp_path, suffix, compress):
    path = tmp_path / f"tricky.csv{suffix}"
    path.write_bytes(compress(b"".join(TRICKY)))
    assert replay_view(path, "ISO-8859-1") == batch_view(spark, path, "ISO-8859-1")


def test_an_unbalanced_quote_is_one_bad_line_never_the_lines_after_it(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"".join(TRICKY[:5]))
    assert [(line.number, split_line(line.text)[1]) for line in read_lines(path)] == [
        (2, None), (3, None), (4, "malformed_csv"), (5, None)]


def test_replay_posts_batches_and_rejects_lines_with_their_reasons(tmp_path):
    path = tmp_path / "in.csv"
    rows = [ROW.format(q=i) for i in range(1, 6)] + ["536365,85123A,SHORT,1", ROW.format(q="x"),
                                                      '536365,"85123A,HEART,1,12/1/2010 8:26,2.55,17850,UK']
    path.write_text("\n".join([HEADER, *rows, ROW.format(q=9)]) + "\n", encoding="latin-1")
    posted: list[list[dict]] = []

    def post(url, body):
        records = json.loads(body)["records"]
        posted.append(records)
        bad = [{"record": i, "errors": ["Quantity 'x' is not a whole number"]}
               for i, r in enumerate(records) if r["Quantity"] == "x"]
        return (400, {"message": "invalid", "errors": bad}) if bad else (202, {"accepted": len(records)})

    clock = iter(range(100)).__next__
    waits: list[float] = []
    stats = replay_file(path, "http://api", rate=2, batch_size=4, progress=False, post=post,
                        clock=lambda: float(clock()), sleep=waits.append)
    assert [len(p) for p in posted] == [4, 3, 2]
    assert stats.to_dict() == {
        "read": 9, "accepted": 6, "rejected": 3, "requests": 3,
        "rejected_by_reason": {"malformed_csv": 1, "refused_by_api": 1, "wrong_field_count": 1},
        "rejected_lines": [{"line": 7, "reason": "wrong_field_count"},
                           {"line": 8, "reason": "refused_by_api", "errors": ["Quantity 'x' is not a whole number"]},
                           {"line": 9, "reason": "malformed_csv"}]}
    assert stats.read == stats.accepted + stats.rejected
    assert waits  # paced to 2 lines a second


def test_limit_counts_data_lines(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("\n".join([HEADER, "", ROW.format(q=1), HEADER, ROW.format(q=2), ROW.format(q=3)]) + "\n")
    stats = replay_file(path, "http://api", rate=1e9, limit=2, progress=False,
                        post=lambda url, body: (202, {"accepted": len(json.loads(body)["records"])}))
    assert (stats.read, stats.accepted) == (2, 2)
