"""Both job scripts launched the way a cluster launches them: spark-submit on a real standalone master.

`local-cluster[2,1,1024]` starts a master, two workers and two executor JVMs on this machine. The
executors' Python has the pinned third-party packages but not the editable `ecomflow` install,
so whatever they need of `ecomflow` must arrive as it does on a cluster: `--py-files`. What ran
where is read from Spark itself (the event log), not from the job's own word.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import psycopg
import pyspark
import pytest

from ecomflow import aws
from ecomflow.api.ingest import RawRecord
from ecomflow.contract import RAW_FIELDS
from ecomflow.local import iceberg as local_iceberg
from ecomflow.local.spark import POSTGRES_JDBC_JAR
from ecomflow.stores import dynamodb, kinesis

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MASTER = "local-cluster[2,1,1024]"
SPARK_HOME = Path(pyspark.__file__).parent

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
HOSTILE_CSV = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/1/2010 8:26,2.55,17850,United Kingdom",
    '536366,22633,"HAND WARMER, ""UNION JACK""",6,12/1/2010 8:28,1.85,17850.0,United Kingdom',
    "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527,United Kingdom",
    "536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/1/2010 8:45,3.75,12583,France",
    "536378,71053,WHITE METAL LANTERN,0,1/4/2011 9:32,3.39,17850,United Kingdom",  # zero_quantity
    "536374,21258,VICTORIAN SEWING BOX LARGE,1,2/30/2011 9:09,10.95,15100,United Kingdom",  # bad date
    '536375,"UNBALANCED,1,1/4/2011 9:32,3.39,17850,United Kingdom',  # malformed CSV
    "only,three,fields",  # wrong field count
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",  # duplicate
]
CURATED_LINES, QUARANTINED_LINES = 5, 4


@pytest.fixture(scope="module")
def launcher(tmp_path_factory) -> Launcher:
    return Launcher(tmp_path_factory.mktemp("launch"))


@pytest.fixture
def catalog(local_stack):
    """A catalog of the test's own: a fresh PostgreSQL database for the launched job's JDBC catalog `lake`.

    Like one Glue Data Catalog, one catalog `lake` has one `ecomflow.sales`, wherever a job's
    `--lake` points: two tests sharing a database would write into each other's table.
    """
    database = f"launch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(local_stack.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    yield local_stack.postgres.with_database(database)
    with psycopg.connect(local_stack.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class Launcher:
    """spark-submit with the pyspark wheel's own bin/, executors on a Python without the editable install."""

    def __init__(self, tmp: Path) -> None:
        import importlib.util

        spec = importlib.util.spec_from_file_location("ecomflow_cfn_build_launch", ROOT / "cloudformation" / "build.py")
        build = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(build)
        self.tmp = tmp
        self.py_files = build.build_py_files(tmp / "dist")
        self.executor_python = self._executor_python(tmp / "executor-venv")

    @staticmethod
    def _executor_python(venv: Path) -> Path:
        """A venv whose only extra path is this venv's site-packages, read as a plain folder.

        A folder named in a .pth file is not a site directory, so the `.pth` files inside it (the
        editable install of `ecomflow` among them) are not processed: `ecomflow` is not importable
        there, every other pinned package is.
        """
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        Path(site, "pinned-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
        probe = subprocess.run([str(python), "-c", "import boto3, importlib.util as u; "
                                "print(u.find_spec('ecomflow') is None)"], capture_output=True, text=True)
        assert probe.stdout.strip() == "True", probe.stderr  # the executors' Python cannot see ecomflow itself
        return python

    def submit(self, script: str, *args: str, name: str, lake: Path,
               postgres) -> tuple[subprocess.CompletedProcess, list[dict]]:  # noqa: ANN001 - a PostgresEndpoint
        """Run `script` as Glue does: Iceberg's jars and extensions, the catalog `lake` configured by the launcher.

        Glue's `--datalake-formats iceberg` puts the jars in and `--conf spark.sql.catalog.lake...`
        names the Glue Data Catalog; here the jars are the local build and the catalog is Iceberg's
        JDBC catalog on the test run's PostgreSQL, so the job's runtime adapter takes it as given.
        """
        events = self.tmp / f"events-{name}"
        events.mkdir()
        catalog = {
            "spark.sql.extensions": local_iceberg.EXTENSIONS,
            "spark.sql.catalog.lake": "org.apache.iceberg.spark.SparkCatalog",
            "spark.sql.catalog.lake.type": "jdbc",
            "spark.sql.catalog.lake.uri": postgres.jdbc_url,
            "spark.sql.catalog.lake.jdbc.user": postgres.user,
            "spark.sql.catalog.lake.jdbc.password": postgres.password,
            "spark.sql.catalog.lake.jdbc.schema-version": "V1",
            "spark.sql.catalog.lake.warehouse": lake.as_uri(),
        }
        env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
               "PYSPARK_PYTHON": str(self.executor_python), "PYSPARK_DRIVER_PYTHON": sys.executable}
        env.pop("ECOMFLOW_RUNTIME", None)
        command = [
            str(SPARK_HOME / "bin" / "spark-submit"), "--master", MASTER,
            "--py-files", str(self.py_files),
            "--jars", ",".join([*local_iceberg.jars(), POSTGRES_JDBC_JAR]),
            *[arg for key, value in catalog.items() for arg in ("--conf", f"{key}={value}")],
            "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir=file://{events}",
            "--conf", f"spark.pyspark.python={self.executor_python}",
            "--conf", f"spark.pyspark.driver.python={sys.executable}",
            "--conf", "spark.executorEnv.PYTHONHASHSEED=0",
            "--conf", "spark.ui.enabled=false",
            str(ROOT / "jobs" / script), *args,
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=self.tmp)
        assert done.returncode == 0, done.stderr[-6000:]
        (log,) = events.iterdir()
        # split on newlines only: plan texts in the log hold U+2028 and U+0085 (the contract's whitespace)
        return done, [json.loads(line) for line in log.read_text(encoding="utf-8").split("\n") if line]


def properties_of_the_lake(events: list[dict]) -> dict[str, str]:
    return {k: v for k, v in spark_properties(events).items() if k.startswith("spark.sql.catalog.lake")}


def spark_properties(events: list[dict]) -> dict[str, str]:
    (environment,) = [e for e in events if e["Event"] == "SparkListenerEnvironmentUpdate"]
    return dict(environment["Spark Properties"])


def task_executors(events: list[dict]) -> list[str]:
    return [e["Task Info"]["Executor ID"] for e in events if e["Event"] == "SparkListenerTaskEnd"]


def assert_ran_on_the_launchers_cluster(events: list[dict]) -> None:
    properties = spark_properties(events)
    assert properties["spark.master"] == MASTER
    # Nothing of the local session was applied over the launcher's configuration.
    assert "spark.ecomflow.localSession" not in properties
    assert properties.get("spark.driver.memory") != "2g" and "spark.sql.shuffle.partitions" not in properties
    executors = task_executors(events)
    assert executors and "driver" not in executors
    assert set(executors) <= {"0", "1", "2", "3"}  # the executors of the two workers


def read_table(lake: Path, postgres, name: str) -> list[dict]:  # noqa: ANN001 - a PostgresEndpoint
    """The committed rows of a table of the launched job's catalog `lake` (pyiceberg on the same rows)."""
    from pyiceberg.catalog.sql import SqlCatalog

    url = f"postgresql+psycopg://{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}/{postgres.database}"
    catalog = SqlCatalog("lake", uri=url, warehouse=lake.as_uri())
    return catalog.load_table(("ecomflow", name)).scan().to_arrow().to_pylist()


def test_the_batch_job_runs_on_the_launchers_master_with_work_on_the_executors(launcher, catalog, tmp_path):
    source = tmp_path / "hostile.csv"
    source.write_bytes(("\n".join([HEADER, *HOSTILE_CSV]) + "\n").encode("latin-1"))
    lake = tmp_path / "lake"
    report = tmp_path / "report.json"

    # Hostile on purpose (4 of 9 lines quarantined): the gate's quarantine limit is raised for it.
    done, events = launcher.submit("batch_etl.py", "--input", str(source), "--lake", str(lake),
                                   "--report", str(report), "--max_quarantine_share", "0.5", name="batch",
                                   lake=lake, postgres=catalog)

    assert_ran_on_the_launchers_cluster(events)
    # The job logs its report (CloudWatch in Glue) and prints nothing of its own: spark-submit
    # merges the driver's stderr into its stdout, so a printed report would stand alone there.
    output = done.stdout + done.stderr
    assert "published: {" in output and '"rows_curated": 5' in output
    assert "{" not in [line.strip() for line in output.splitlines()]
    counts = json.loads(report.read_text())
    assert (counts["rows_read"], counts["rows_curated"], counts["rows_quarantined"], counts["duplicates_dropped"]) \
        == (len(HOSTILE_CSV), CURATED_LINES, QUARANTINED_LINES, 1)
    assert properties_of_the_lake(events)["spark.sql.catalog.lake.type"] == "jdbc"  # the launcher's catalog
    curated = read_table(lake, catalog, "sales")
    assert len(curated) == len({r["record_id"] for r in curated}) == CURATED_LINES
    quarantine = read_table(lake, catalog, "sales_quarantine")
    assert sorted(r["reason"] for r in quarantine) == sorted(
        ["zero_quantity", "bad_invoice_date", "malformed_csv", "wrong_field_count"])


def test_the_stream_job_runs_on_the_launchers_master_and_executors_write_dynamodb(launcher, local_stack, catalog,
                                                                                 tmp_path):
    tag = uuid.uuid4().hex[:8]
    stream_name, invoice_table, customer_table = f"launch-{tag}", f"Invoice-{tag}", f"Customer-{tag}"
    kinesis.ensure_stream(aws.client("kinesis"), stream_name, shards=2)
    ddb = aws.client("dynamodb")
    dynamodb.ensure_tables(ddb, invoice_table, customer_table)
    good = [RawRecord.of(dict(zip(RAW_FIELDS, line.split(","), strict=True)))
            for line in HOSTILE_CSV[:2] + HOSTILE_CSV[3:5]]
    entries = [r.to_entry() for r in good]
    junk = [b"not json", b'{"InvoiceNo": "536399", "StockCode"']  # any producer may write these
    client = aws.client("kinesis")
    kinesis.put_records(client, stream_name, entries)
    for data in junk:
        client.put_record(StreamName=stream_name, Data=data, PartitionKey="junk")
    lake = tmp_path / "lake"

    done, events = launcher.submit(
        "stream_etl.py", "--stream_name", stream_name, "--lake", str(lake),
        "--checkpoint_location", str(tmp_path / "checkpoint"), "--invoice_table", invoice_table,
        "--customer_table", customer_table, "--window_size", "1", "--until_idle", "on", name="stream",
        lake=lake, postgres=catalog)

    assert_ran_on_the_launchers_cluster(events)
    items = [dynamodb.from_attributes(i) for i in ddb.scan(TableName=invoice_table)["Items"]]
    assert sorted((i["InvoiceNo"], i["stock_code"], int(i["quantity"])) for i in items) == [
        ("536365", "85123A", 2), ("536365", "85123A", 6), ("536370", "22728", 24), ("C536379", "D", -1)]
    summaries = ddb.scan(TableName=customer_table)["Items"]
    assert len(summaries) == 3  # (17850, 536365), (14527, C536379), (12583, 536370)
    assert len(read_table(lake, catalog, "sales")) == 4
    quarantine = read_table(lake, catalog, "sales_quarantine")
    assert sorted(r["raw_line"] for r in quarantine) == sorted(d.decode() for d in junk)
