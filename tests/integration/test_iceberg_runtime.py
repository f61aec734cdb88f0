"""The local Iceberg runtime (scripts/build_iceberg_jars.py) does what the lake needs, on Java 17.

A partition-scoped MERGE that a replay leaves alone, write-audit-publish through a branch and a
fast-forward, compaction and snapshot expiry, on a Hadoop catalog in a temporary warehouse. The
Spark run is a child spark-submit given only the built jars, so it checks the build itself; the
lake's own tables and catalog are tested in the test run's session (test_iceberg_store.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build_iceberg_jars.py"
SPARK_HOME = Path(pyspark.__file__).parent

# The child's script: one JSON line of what each step left behind.
LAKE_SCRIPT = r'''
import json
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("iceberg-runtime-check").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
T = "cat.db.t"
ROW = "record_id string, year int, month int, amount double"


def count(name=T):
    return spark.table(name).count()


spark.sql("CREATE NAMESPACE IF NOT EXISTS cat.db")
spark.sql(f"""CREATE TABLE {T} (record_id STRING, year INT, month INT, amount DOUBLE) USING iceberg
              PARTITIONED BY (year, month) TBLPROPERTIES ('format-version' = '2')""")
spark.createDataFrame([("a", 2010, 12, 1.0), ("b", 2010, 12, 2.0), ("c", 2011, 1, 3.0), ("d", 2011, 2, 4.0)],
                      ROW).writeTo(T).append()
out = {"inserted": count()}

# c and d again (no-ops), e and f new, a again in another month: a new row (the key is per partition).
spark.createDataFrame([("c", 2011, 1, 3.0), ("d", 2011, 2, 4.0), ("e", 2011, 2, 5.0), ("f", 2011, 3, 6.0),
                       ("a", 2011, 1, 9.0)], ROW).createOrReplaceTempView("s")
merge = f"""MERGE INTO {T} t USING s
            ON t.record_id = s.record_id AND t.year = s.year AND t.month = s.month
            WHEN NOT MATCHED THEN INSERT *"""
spark.sql(merge)
out["after_merge"] = count()
spark.sql(merge)
out["after_replayed_merge"] = count()

spark.sql(f"ALTER TABLE {T} CREATE BRANCH audit_x")
spark.createDataFrame([("g", 2011, 3, 7.0), ("h", 2011, 4, 8.0)], ROW).writeTo(f"{T}.branch_audit_x").append()
out["branch"] = count(f"{T}.branch_audit_x")
out["main_before_publish"] = count()
spark.sql("CALL cat.system.fast_forward('db.t', 'main', 'audit_x')")
out["main_after_publish"] = count()
spark.sql(f"ALTER TABLE {T} DROP BRANCH audit_x")  # published: its snapshot need not outlive expiry

rewrite = spark.sql("CALL cat.system.rewrite_data_files(table => 'db.t', options => map('rewrite-all', 'true'))")
out["rewrite"] = {k: v for k, v in rewrite.first().asDict().items() if k.endswith("files_count")}
expire = spark.sql("CALL cat.system.expire_snapshots(table => 'db.t', "
                   "older_than => TIMESTAMP '2999-01-01 00:00:00', retain_last => 1)")
out["expire"] = {k: v for k, v in expire.first().asDict().items() if v}
out["snapshots"] = spark.table(f"{T}.snapshots").count()
out["data_files"] = spark.table(f"{T}.files").count()
out["rows"] = [list(r) for r in spark.table(T).orderBy("year", "month", "record_id")
               .select("record_id", "year", "month").collect()]
print("RESULT " + json.dumps(out, sort_keys=True), flush=True)
spark.stop()
'''

EXPECTED = {
    "inserted": 4,
    "after_merge": 7,
    "after_replayed_merge": 7,
    "branch": 9,
    "main_before_publish": 7,
    "main_after_publish": 9,
    # 8 files (3 + 3 from the MERGE + 2 on the branch) into one per partition
    "rewrite": {"rewritten_data_files_count": 8, "added_data_files_count": 5, "failed_data_files_count": 0,
                "removed_delete_files_count": 0},
    # the pre-compaction files go with the older snapshots (the replayed MERGE committed an empty one)
    "expire": {"deleted_data_files_count": 8, "deleted_manifest_files_count": 3, "deleted_manifest_lists_count": 4},
    "snapshots": 1,
    "data_files": 5,
    "rows": [["a", 2010, 12], ["b", 2010, 12], ["a", 2011, 1], ["c", 2011, 1], ["d", 2011, 2], ["e", 2011, 2],
             ["f", 2011, 3], ["g", 2011, 3], ["h", 2011, 4]],
}


@pytest.fixture(scope="module")
def iceberg_jars() -> str:
    """The two jars, comma-separated: built by the script (a no-op when `make setup` already did)."""
    built = subprocess.run([sys.executable, str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=900)
    if built.returncode != 0:
        pytest.fail(f"the Iceberg jars could not be built: {built.stderr.strip()}", pytrace=False)
    checked = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True,
                             timeout=120, check=True)
    return checked.stdout.strip()


def test_merge_branch_publish_compaction_and_expiry(iceberg_jars, tmp_path):
    script = tmp_path / "lake_check.py"
    script.write_text(LAKE_SCRIPT, encoding="utf-8")
    warehouse = tmp_path / "warehouse"
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("ECOMFLOW_RUNTIME", None)
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[1]", "--jars", iceberg_jars,
        "--conf", "spark.driver.memory=1g",
        "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1",
        "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=1",
        "--conf", "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "--conf", "spark.sql.catalog.cat=org.apache.iceberg.spark.SparkCatalog",
        "--conf", "spark.sql.catalog.cat.type=hadoop",
        "--conf", f"spark.sql.catalog.cat.warehouse={warehouse.as_uri()}",
        str(script),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert json.loads(line[len("RESULT "):]) == EXPECTED
