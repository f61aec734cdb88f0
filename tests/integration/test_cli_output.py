"""What `ecomflow batch` prints, as a user sees it through a pipe: a summary in words, the JSON report once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ecomflow.devtools.generate import generate_file

pytestmark = pytest.mark.integration

LIB = Path(__file__).resolve().parents[2] / "lib"
ANSI = re.compile(r"\x1b\[")


def ecomflow(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{LIB}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run([sys.executable, "-m", "ecomflow.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-output") / "retail.csv"
    generate_file(str(path), rows=1500, seed=5, malformed_rate=0.002)
    return path


def test_batch_json_is_printed_once_and_the_summary_goes_to_stderr(local_stack, raw_file, tmp_path):
    done = ecomflow("batch", "--input", str(raw_file), "--lake", str(tmp_path / "lake"), "--json",
                    "--report", str(tmp_path / "report.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # stdout is exactly one JSON document
    assert report["published"] is True
    assert report == json.loads((tmp_path / "report.json").read_text())
    kept = tmp_path / "lake" / "_reports" / report["run_id"] / "report.json"
    assert json.loads(kept.read_text()) == report
    assert '"rows_read"' not in done.stderr  # no staged copy in the log
    assert f"Published run {report['run_id']} to {tmp_path / 'lake'} in " in done.stderr
    assert f"Read {report['rows_read']:,} rows: {report['rows_curated']:,} curated" in done.stderr
    assert not ANSI.search(done.stderr)  # not a terminal: no status line, no colours


def test_batch_without_json_prints_only_the_summary(local_stack, raw_file, tmp_path):
    done = ecomflow("batch", "--input", str(raw_file), "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "{" not in done.stdout and '"rows_read"' not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Published run ") and re.search(r" in \d+(\.\d)? s\.$| in \d+ min \d\d s\.$", lines[0])
    assert any(line.startswith("Curated revenue £") for line in lines)
    assert any(line.startswith("Quality gate passed: ") for line in lines)
    assert lines[-1].startswith(f"Full report: {tmp_path / 'lake' / '_reports'}")


def test_help_lists_the_glue_arguments_and_needs_no_spark(tmp_path):
    done = ecomflow("batch", "--help", cwd=tmp_path, timeout=60)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--quality_gate on|off" in text and "(default: on)" in text and "--max_quarantine_share SHARE" in text
    assert done.stderr == ""


def test_an_unknown_cli_option_of_batch_gets_a_hint(tmp_path):
    done = ecomflow("batch", "--input", "x.csv", "--lake", str(tmp_path / "lake"), "--jsn", cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert "unknown option --jsn (did you mean --json?)" in done.stderr or "--jsn" in done.stderr
    assert not (tmp_path / "lake").exists()


def test_on_a_terminal_the_status_line_is_drawn_and_the_summary_follows(local_stack, raw_file, tmp_path):
    """Run under a pseudo-terminal, as a person would: the status line appears on stderr while Spark works."""
    import pty
    import select

    env = {**os.environ, "PYTHONPATH": f"{LIB}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "160"}
    env.pop("AWS_ENDPOINT_URL", None)
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "ecomflow.cli.main", "batch", "--input", str(raw_file),
                                "--lake", str(tmp_path / "lake")], cwd=tmp_path, env=env, stdin=follower,
                               stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 600)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert process.wait(timeout=60) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "batch 0:0" in text and ("Spark stage" in text or "starting Spark" in text)
    assert "Published run " in text


def test_a_run_the_gate_stops_says_so_in_words_and_keeps_its_report(local_stack, tmp_path):
    (tmp_path / "notes.csv").write_text("this is a readme, not the raw file\n")
    done = ecomflow("batch", "--input", str(tmp_path / "notes.csv"), "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    assert done.returncode == 3
    assert done.stdout.startswith("Not published: run ") and "Quality gate FAILED" in done.stdout
    assert "Read 0 rows" not in done.stdout
    [kept] = (tmp_path / "lake" / "_reports").glob("*/report.json")
    assert json.loads(kept.read_text())["published"] is False
    assert not (tmp_path / "lake" / "curated").exists() or not any((tmp_path / "lake" / "curated").rglob("*.parquet"))


def test_stream_ends_with_its_totals_in_words_or_json(local_stack, spark, tmp_path, capsys):
    """`ecomflow stream --until-idle` on a fresh, empty stream: the summary says what it did, `--json` gives JSON."""
    import uuid

    from ecomflow.cli.main import main

    name = f"cli-{uuid.uuid4().hex[:8]}"
    args = ["stream", "--stream_name", name, "--lake", str(tmp_path / "lake"), "--checkpoint_location",
            str(tmp_path / "ckpt"), "--invoice_table", f"Invoice-{name}", "--customer_table", f"Customer-{name}",
            "--until-idle", "--create-resources"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert out.out.startswith("Stream job ended after ") and "0 lines read, 0 curated, 0 quarantined." in out.out
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["lines"] == 0 and out.err.startswith("Stream job ended after ")


def test_output_cut_short_by_the_reader_is_no_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{LIB}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    (tmp_path / "lake" / "curated" / "sales").mkdir(parents=True)
    command = (f"'{sys.executable}' -m ecomflow.cli.main sql 'SELECT * FROM range(200000)' --lake lake --json "
               f"| head -1")
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[" and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
