"""scripts/build_iceberg_jars.py: a missing tool or build is named in one line, exit 2, before any download."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_iceberg_jars.py"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env)


def test_no_jarjar_is_one_line_saying_which_package(tmp_path):
    done = run("--cache", str(tmp_path / "cache"), "--jarjar", str(tmp_path / "no-such-jarjar.jar"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "no-such-jarjar.jar" in done.stderr and "apt-get install libjarjar-java" in done.stderr
    assert not (tmp_path / "cache").exists()  # nothing half-built is left


def test_the_jarjar_variable_is_honoured(tmp_path):
    env = {**os.environ, "ECOMFLOW_JARJAR": str(tmp_path / "elsewhere.jar")}
    done = run("--cache", str(tmp_path / "cache"), env=env)
    assert done.returncode == 2
    assert "elsewhere.jar" in done.stderr and done.stderr.count("\n") == 1


def test_check_on_an_empty_cache_says_how_to_build(tmp_path):
    done = run("--cache", str(tmp_path), "--check")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "make iceberg-jars" in done.stderr


def test_check_refuses_a_jar_changed_after_the_build(tmp_path):
    spec = importlib.util.spec_from_file_location("build_iceberg_jars", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    (tmp_path / script.RUNTIME_JAR).write_bytes(b"not the runtime")
    (tmp_path / script.SHADED_JAR).write_bytes(b"shaded")
    shaded_sha = script.sha256(tmp_path / script.SHADED_JAR)
    recorded = {script.RUNTIME_JAR: script.RUNTIME_SHA256, script.SHADED_JAR: shaded_sha}
    manifest = {"wheel": {"sha256": script.WHEEL_SHA256}, "jars": recorded}
    (tmp_path / script.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    done = run("--cache", str(tmp_path), "--check")
    assert done.returncode == 2
    assert script.RUNTIME_JAR in done.stderr and "changed" in done.stderr
