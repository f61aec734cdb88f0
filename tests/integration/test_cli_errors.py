"""`ecomflow batch`/`stream` as a user runs them: a predictable failure is one line on stderr and exit code 2."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LIB = Path(__file__).resolve().parents[2] / "lib"
GOOD = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\n")


def ecomflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{LIB}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "ecomflow.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Each case: the arguments, and what its one error line says."""
    (tmp / "in.csv").write_text(GOOD, encoding="latin-1")
    (tmp / "empty").mkdir()
    (tmp / "done").mkdir()
    (tmp / "done" / "_SUCCESS").write_text("")
    (tmp / "file").write_text("")
    batch = ["batch", "--lake", str(tmp / "lake")]
    return {
        "missing input": ([*batch, "--input", str(tmp / "absent.csv")], "does not exist"),
        "empty folder": ([*batch, "--input", str(tmp / "empty")], "holds no data files"),
        "only _SUCCESS": ([*batch, "--input", str(tmp / "done")], "holds no data files (skipped: _SUCCESS)"),
        "unknown option": ([*batch, "--input", str(tmp / "in.csv"), "--qualitygate", "off"],
                           "did you mean --quality_gate?"),
        "lake under a file": (["batch", "--input", str(tmp / "in.csv"), "--lake", str(tmp / "file" / "lake")],
                              "is a regular file"),
        "stream lake under a file": (["stream", "--stream_name", "s", "--lake", str(tmp / "file" / "lake"),
                                      "--checkpoint_location", str(tmp / "cp")], "is a regular file"),
    }


@pytest.mark.parametrize("case", ["missing input", "empty folder", "only _SUCCESS", "unknown option",
                                  "lake under a file", "stream lake under a file"])
def test_a_predictable_failure_is_one_line_and_exit_2_before_spark_starts(tmp_path, case):
    args, says = cases(tmp_path)[case]
    done = ecomflow(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr  # no Spark banner: the JVM never started
    assert " ERROR ecomflow: " in done.stderr and says in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "lake").exists() and not (tmp_path / "cp").exists()


def test_a_read_only_lake_is_one_line_and_exit_2(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root, which writes to a 0555 folder regardless; the 'lake under a file' "
                    "case covers an unwritable lake")
    (tmp_path / "in.csv").write_text(GOOD, encoding="latin-1")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = ecomflow("batch", "--input", str(tmp_path / "in.csv"), "--lake", str(locked / "lake"), cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "read-only" in done.stderr
    assert list(locked.iterdir()) == []


def test_a_spark_error_with_a_predictable_cause_is_one_line_with_details_at_debug(local_stack, spark, tmp_path, caplog):
    """An s3:// URI cannot be checked before Spark; locally Spark has no s3 file system, and says so in one line."""
    from ecomflow.cli.main import main

    logger = logging.getLogger("ecomflow")
    level = logger.level
    try:
        code = main(["--log-level", "DEBUG", "batch", "--input", "s3://raw/in.csv", "--lake", str(tmp_path / "lake")])
    finally:
        logger.setLevel(level)
    assert code == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ['UnsupportedFileSystemException: No FileSystem for scheme "s3" '
                                                '(--log-level DEBUG shows the JVM\'s error)']
    details = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert details and "org.apache.hadoop.fs.UnsupportedFileSystemException" in str(details[-1].exc_info[1])
    assert not (tmp_path / "lake").exists()


def test_a_spark_error_with_a_predictable_cause_shows_no_stack_trace(tmp_path):
    done = ecomflow("batch", "--input", "s3://raw/in.csv", "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "\tat " not in done.stderr, done.stderr  # neither Python's nor the JVM's
    assert done.stderr.splitlines()[-1].endswith(' ERROR ecomflow: UnsupportedFileSystemException: No FileSystem '
                                                 'for scheme "s3" (--log-level DEBUG shows the JVM\'s error)')
    assert not (tmp_path / "lake").exists()
