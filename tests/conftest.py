"""Shared fixtures: one Spark session per test run, and the paths of the reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("ECOMFLOW_REAL_DATA", ROOT.parent / "shared" / "data" / "online_retail.csv.gz"))


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (local, 127.0.0.1, UTC, UI off)."""
    from ecomflow.runtime import local_session

    session = local_session(master="local[2]", app_name="ecomflow-tests",
                            extra={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real Online Retail file; tests that need it are skipped, saying why, where it is absent."""
    if not REAL_DATA.exists():
        pytest.skip(f"real data set not found at {REAL_DATA} (it lives in ../shared/data, outside the repo)")
    return REAL_DATA
