"""Implausible input stops at the gate: each bad input exits 3, publishes nothing and says why in one line.

Through the batch CLI as a user runs it, with the gate's defaults. Each case is a small input that a
user could really hand the job; the expected check and advice are the ones the message must carry.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
from pathlib import Path

import pytest

from ecomflow.app.entry import EXIT_GATE_FAILED
from ecomflow.cli.main import main as cli_main
from ecomflow.contract import RAW_HEADER

pytestmark = pytest.mark.integration

LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,12/13/2010 8:28,1.85,17850,United Kingdom",
    "536367,GIFT_0001_50,Dotcomgiftshop Gift Voucher \u00a350.00,1,12/20/2010 9:00,42.55,,United Kingdom",
    "536368,22960,CAF\u00c9 CR\u00c8ME JAM MAKING SET,6,1/25/2011 9:02,4.25,13047,France",
    "536369,21756,BATH BUILDING BLOCK WORD,3,2/14/2011 9:05,5.95,13047,United Kingdom",
]
GOOD_TEXT = "\n".join([RAW_HEADER, *LINES]) + "\n"


def write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder / next(iter(files)) if len(files) == 1 else folder


# (case, input files, extra job arguments, the failed check the message starts with, advice it must give)
CASES = [
    ("utf8_read_as_latin1", {"in.csv": GOOD_TEXT.encode("utf-8")}, [],
     "text_encoding (2 lines with signs of a wrong encoding", "read it with --encoding UTF-8"),
    ("swapped_date_format", {"in.csv": GOOD_TEXT.encode("latin-1")}, ["--date_format", "d/M/yyyy H:mm"],
     "quarantine_share (80.0% of 5 lines quarantined", "check --date_format ('d/M/yyyy H:mm')"),
    ("readme_in_the_folder", {"in.csv": GOOD_TEXT.encode("latin-1"), "readme.txt": b"Exports of the shop\n"}, [],
     "input_header (readme.txt: first line 'Exports of the shop' is not the header", RAW_HEADER),
    ("empty_file", {"in.csv": b""}, [], "input_header (in.csv: empty, no header line)", ""),
    ("header_only_file", {"in.csv": (RAW_HEADER + "\r\n").encode("ascii")}, [],
     "rows_read_nonzero (the input holds no data lines", ""),
    ("gzip_named_csv", {"in.csv": gzip.compress(GOOD_TEXT.encode("latin-1"))}, [],
     "input_is_text (in.csv: gzip-compressed", "name it *.gz"),
    ("random_bytes", {"in.csv": random.Random(13).randbytes(4096)}, [], "input_is_text (in.csv: not text", ""),
]


def published_rows(lake: Path) -> int:
    """The rows readers of the lake see (`main` of both tables, through the catalog); a refused run's rows
    wait on its audit branch, its report under _reports/."""
    from ecomflow.local import iceberg

    database = iceberg.lake_database(str(lake))
    if database is None:  # refused before anything was staged: no table yet
        return 0
    catalog = iceberg.sql_catalog(str(lake))
    return sum(iceberg.load_table(catalog, database, name).scan().to_arrow().num_rows
               for name in ("sales", "sales_quarantine"))


def run_job(source: Path, lake: Path, report: Path, *extra: str) -> int:
    return cli_main(["batch", "--input", str(source), "--lake", str(lake), "--report", str(report), *extra])


@pytest.mark.parametrize(("case", "files", "extra", "check", "advice"), CASES, ids=[c[0] for c in CASES])
def test_implausible_input_exits_3_publishes_nothing_and_says_why_in_one_line(
        local_stack, spark, tmp_path, caplog, case, files, extra, check, advice):
    source, lake, report = write(tmp_path / case, files), tmp_path / "lake", tmp_path / "report.json"

    with caplog.at_level(logging.ERROR, logger="ecomflow"):
        code = run_job(source, lake, report, *extra)

    assert code == EXIT_GATE_FAILED
    assert published_rows(lake) == 0
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "\n" not in error
    reason = error.split("quality gate failed: ", 1)[1]
    assert reason.startswith(check) and advice in reason
    written = json.loads(report.read_text())
    # the first problem named is the cause; a wrong encoding also quarantines lines (C1 controls)
    assert written["published"] is False and "; ".join(written["quality"]["failed"]) == reason
    assert written["quality"]["failed"][0].startswith(check)


def test_the_advised_encoding_publishes_the_same_file(local_stack, spark, tmp_path):
    source = write(tmp_path / "utf8", {"in.csv": GOOD_TEXT.encode("utf-8")})
    lake = tmp_path / "lake"

    assert run_job(source, lake, tmp_path / "report.json", "--encoding", "UTF-8") == 0
    assert published_rows(lake) > 0
