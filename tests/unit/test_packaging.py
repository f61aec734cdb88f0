"""The Glue wheel carries only what Glue needs: its metadata, read from a wheel built from this tree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Provided by AWS Glue 5.1 (a second copy would shadow Glue's own), or far too heavy to install
# into every job run: none may be an unconditional requirement of the wheel.
GLUE_PROVIDED = {"pyspark", "awsgluedataplanepython", "boto3", "botocore", "s3transfer", "py4j"}
HEAVY = {"great-expectations", "moto", "duckdb", "psycopg", "psycopg-binary", "rich", "aws-lambda-powertools",
         "pandas", "pyarrow", "numpy", "matplotlib", "flask", "docker", "cfn-lint", "checkov"}


@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> dict[str, list[str]]:
    """The built wheel's METADATA: Requires-Dist lines split into unconditional and per extra."""
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "src"
    shutil.copytree(ROOT / "lib", tree / "lib", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copy(ROOT / "setup.py", tree / "setup.py")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(tree)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("ecomflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(archive.read(name).decode("utf-8"))
    found: dict[str, list[str]] = {"": []}
    for requirement in fields.get_all("Requires-Dist") or []:
        extra = re.search(r"""extra\s*==\s*["']([\w-]+)["']""", requirement)
        found.setdefault(extra.group(1) if extra else "", []).append(requirement)
    return found


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_wheel_requires_nothing_glue_provides_or_that_is_heavy(metadata):
    unconditional = {_name(r) for r in metadata[""]}
    assert sorted(unconditional & (GLUE_PROVIDED | HEAVY)) == []


def test_the_local_extra_holds_what_a_laptop_needs(metadata):
    local = {_name(r) for r in metadata["local"]}
    assert {"pyspark", "awsgluedataplanepython", "moto", "duckdb", "psycopg", "great-expectations"} <= local
    assert {_name(r) for r in metadata["glue"]} == {"great-expectations"}
    assert {_name(r) for r in metadata["lambda"]} == {"aws-lambda-powertools", "pydantic"}


def test_the_lock_pins_every_extra_at_the_version_setup_names(metadata):
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    for extra, requirements in metadata.items():
        for requirement in requirements:
            exact = re.search(r"==\s*([\w.]+)", requirement)
            if exact:
                assert pins.get(_name(requirement)) == exact.group(1), (extra, requirement)
