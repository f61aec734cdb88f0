"""Job scripts are thin shells: importing one has no side effects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

JOBS = sorted((Path(__file__).resolve().parents[3] / "jobs").glob("*.py"))


@pytest.mark.parametrize("path", JOBS, ids=[p.stem for p in JOBS])
def test_importing_a_job_has_no_side_effects(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["job"])  # a job that parsed arguments at import would fail here
    spec = importlib.util.spec_from_file_location(f"job_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from pyspark import SparkContext

    assert SparkContext._active_spark_context is None or "ecomflow-tests" in SparkContext._active_spark_context.appName
    assert list(tmp_path.iterdir()) == []


def test_batch_job_rejects_missing_arguments():
    from ecomflow.config import parse_batch_config
    from ecomflow.errors import ConfigError

    with pytest.raises(ConfigError, match="--lake"):
        parse_batch_config(["batch_etl.py", "--input", "s3://raw/x.csv"])


def test_batch_config_reads_glue_arguments():
    from ecomflow.config import parse_batch_config

    config = parse_batch_config(["batch_etl.py", "--JOB_NAME", "j", "--input", "s3://raw/x.csv", "--lake",
                                 "s3://lake", "--encoding", "utf-8", "--service_codes", "post, dot",
                                 "--job-bookmark-option", "job-bookmark-enable"])
    assert (config.input_uri, config.lake_uri, config.encoding) == ("s3://raw/x.csv", "s3://lake", "UTF-8")
    assert config.rules.service_codes == ("POST", "DOT") and config.job_name == "j"


def test_batch_config_reads_the_gate_limits():
    from datetime import date, datetime

    from ecomflow.config import DateBound, PlausibilityLimits, parse_batch_config

    base = ["batch_etl.py", "--input", "s3://raw/x.csv", "--lake", "s3://lake"]
    assert parse_batch_config(base).plausibility == PlausibilityLimits(
        0.05, DateBound(day=date(2000, 1, 1)), DateBound(days_from_now=1))
    limits = parse_batch_config([*base, "--max_quarantine_share", "0.2", "--min_invoice_date", "2010-12-01",
                                 "--max_invoice_date", "now-7d"]).plausibility
    assert limits == PlausibilityLimits(0.2, DateBound(day=date(2010, 12, 1)), DateBound(days_from_now=-7))
    assert limits.invoice_window(datetime(2026, 12, 8, 6, 30)) == (datetime(2010, 12, 1), datetime(2026, 12, 1, 6, 30))


@pytest.mark.parametrize(("argument", "value", "message"), [
    ("max_quarantine_share", "5%", "between 0 and 1"),
    ("max_quarantine_share", "1.5", "between 0 and 1"),
    ("min_invoice_date", "12/1/2010", "a day"),
    ("max_invoice_date", "tomorrow", "a day"),
    ("max_invoice_date", "1999-12-31", "is not before"),
])
def test_batch_config_rejects_bad_gate_limits(argument, value, message):
    from ecomflow.config import parse_batch_config
    from ecomflow.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_batch_config(["batch_etl.py", "--input", "s3://raw/x.csv", "--lake", "s3://lake", f"--{argument}", value])


def test_stream_config_reads_glue_arguments():
    from ecomflow.config import STREAM_OPTIONAL, STREAM_REQUIRED, parse_stream_config

    config = parse_stream_config(["stream_etl.py", "--JOB_NAME", "s", "--stream_name", "records", "--lake",
                                  "s3://lake", "--checkpoint_location", "s3://tmp/cp/", "--window_size", "30",
                                  "--starting_position", "latest", "--invoice_table", "I"])
    assert (config.stream_name, config.lake_uri, config.checkpoint_uri) == ("records", "s3://lake", "s3://tmp/cp/")
    assert (config.window_size, config.starting_position, config.invoice_table) == ("30 seconds", "LATEST", "I")
    assert not config.redshift.enabled and config.job_name == "s"
    assert set(STREAM_REQUIRED) == {"stream_name", "lake", "checkpoint_location"} and "window_size" in STREAM_OPTIONAL


def test_stream_config_rejects_bad_values():
    from ecomflow.config import parse_stream_config
    from ecomflow.errors import ConfigError

    base = ["stream_etl.py", "--stream_name", "r", "--lake", "/l", "--checkpoint_location", "/c"]
    with pytest.raises(ConfigError, match="window_size"):
        parse_stream_config([*base, "--window_size", "0"])
    with pytest.raises(ConfigError, match="starting_position"):
        parse_stream_config([*base, "--starting_position", "AT_TIMESTAMP"])
