"""The runtime adapter: local session settings here, the Glue side in the glue-libs container."""

from __future__ import annotations

import os

import pytest

from ecomflow.runtime import GLUE_CONTEXT_CLASS, Runtime, _jvm_has_class, build_runtime

IN_GLUE = os.environ.get("ECOMFLOW_IN_GLUE_CONTAINER") == "1"


def test_local_session_is_utc_and_lenient_about_bad_input(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.ansi.enabled") == "false"
    assert spark.conf.get("spark.sql.legacy.timeParserPolicy") == "CORRECTED"


@pytest.mark.skipif(IN_GLUE, reason="the glue-libs container configures its own session")
def test_local_session_binds_to_loopback_without_ui(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"


@pytest.mark.skipif(IN_GLUE, reason="Glue's jars are present in the glue-libs container")
def test_build_runtime_is_local_without_glue_jars(spark, monkeypatch):
    monkeypatch.setenv("ECOMFLOW_RUNTIME", "auto")
    runtime = build_runtime("ecomflow-tests")
    assert runtime.spark is spark and not runtime.is_glue
    assert not _jvm_has_class(spark, GLUE_CONTEXT_CLASS)


def test_insisting_on_glue_without_its_jars_is_a_clear_error(spark, monkeypatch):
    if IN_GLUE:
        pytest.skip("Glue's jars are present here")
    from ecomflow.errors import EnvironmentMissingError

    monkeypatch.setenv("ECOMFLOW_RUNTIME", "glue")
    with pytest.raises(EnvironmentMissingError, match="Glue's jars"):
        build_runtime("ecomflow-tests")


def test_commit_marks_the_local_runtime_committed(spark):
    runtime = Runtime(spark=spark)
    runtime.commit()
    assert runtime.committed


@pytest.mark.glue
@pytest.mark.skipif(not IN_GLUE, reason="needs GlueContext's jars: run `make test-glue` (glue-libs container)")
def test_glue_runtime_wraps_glue_context_and_job(spark, monkeypatch):
    monkeypatch.setenv("ECOMFLOW_RUNTIME", "glue")
    runtime = build_runtime("ecomflow-tests", {"job_bookmark_option": "job-bookmark-disable"})
    assert runtime.is_glue and runtime.job is not None
    runtime.commit()
    assert runtime.committed


def test_a_stand_in_that_is_not_installed_is_named_in_the_error():
    from ecomflow import plugins
    from ecomflow.errors import EnvironmentMissingError

    with pytest.raises(EnvironmentMissingError, match="no 'nope' in ecomflow.spark_sessions"):
        plugins.load(plugins.SPARK_SESSIONS, "nope")


def test_the_local_session_is_found_by_name_not_imported_by_the_runtime():
    import ast
    from pathlib import Path

    from ecomflow import plugins, runtime
    from ecomflow.local.spark import local_session

    assert plugins.load(plugins.SPARK_SESSIONS, "local") is local_session
    tree = ast.parse(Path(runtime.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name and name.startswith("ecomflow.local") for name in imported)
