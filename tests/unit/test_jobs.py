"""Job scripts are thin shells: importing one has no side effects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

JOBS = sorted((Path(__file__).resolve().parents[2] / "jobs").glob("*.py"))


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
