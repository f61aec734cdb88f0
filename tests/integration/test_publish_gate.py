"""Write-audit-publish for real: the batch CLI against the local stack, a good run and a corrupted one.

The first run publishes and announces it; the second run's staged data is corrupted after staging
and before the real quality gate runs (a duplicated record_id and an unknown line_type). The gate
must stop it: the lake stays as it was, a `job_failed` message reaches an SQS queue subscribed to
the topic on the moto server, and the CLI exits non-zero. Expected numbers are worked out by hand.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyspark.sql import functions as F

from ecomflow import aws
from ecomflow.app import batch_job
from ecomflow.app.entry import EXIT_GATE_FAILED
from ecomflow.cli.main import main as cli_main

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
FIRST = [
    "2001,85123A,Alpha,2,1/10/2011 9:00,1.5,100,United Kingdom",  # 3.000
    "2001,22633,Beta,1,1/10/2011 9:00,10,100,United Kingdom",  # 10.000
    "A2002,B,Adjust bad debt,1,1/12/2011 14:00,-11062.06,,United Kingdom",  # adjustment: -11062.060
    "C2003,22633,Beta,-1,2/11/2011 10:00,10,100,France",  # cancellation: -10.000
    "2004,85123A,Alpha,0,2/11/2011 11:00,1.5,100,France",  # quarantined: zero_quantity
]
SECOND = [
    "2005,22633,Beta,3,1/20/2011 12:00,9.99,200,France",  # into the published 2011-01
    "2006,85123A,Alpha,4,3/1/2011 8:00,1.25,200,France",  # a new partition 2011-03
]
CORRUPTED_PARTITION = "year=2011/month=1"
EXPECTED_FAILURES = {"expect_column_values_to_be_unique(record_id)", "expect_column_values_to_be_in_set(line_type)"}


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="latin-1")
    return path


def lake_snapshot(lake: Path) -> dict[str, object]:
    """What readers of the lake see: each table's `main` snapshot and its rows (through the catalog)."""
    from ecomflow.analytics.explore import open_lake
    from ecomflow.local import iceberg as local_iceberg

    catalog = local_iceberg.sql_catalog(str(lake))
    view = open_lake(lake)
    return {
        "snapshots": {name: local_iceberg.load_table(catalog, "ecomflow", name).current_snapshot().snapshot_id
                      for name in ("sales", "sales_quarantine")},
        "sales": sorted(view.connection.execute("SELECT * FROM sales").fetchall()),
        "quarantine": sorted(view.connection.execute("SELECT * FROM quarantine").fetchall()),
    }


class Listener:
    """An SQS queue subscribed to the topic (SNS envelopes, so the message attributes come along)."""

    def __init__(self, topic_arn: str, filter_policy: dict | None = None) -> None:
        self.sqs = aws.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"listener-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)

    def drain(self, expected: int, patience: float = 20.0) -> list[dict]:
        """The envelopes waiting on the queue; waits (bounded) until `expected` of them are there."""
        envelopes: list[dict] = []
        deadline = time.monotonic() + patience
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in answer.get("Messages", []):
                envelopes.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            if len(envelopes) >= expected and not answer.get("Messages") or time.monotonic() > deadline:
                return envelopes


def corrupt_partition(spark, staged, partition: str) -> str:
    """Add to the run's audit branch a copy of one of its rows whose line_type is unknown; returns the branch."""
    from ecomflow.stores import iceberg

    table, branch = staged.table, staged.branch
    where = iceberg.partition_filter(None, table.partitions, [iceberg.partition_values(table, partition)])
    spark.table(table.at(branch)).where(where).limit(1).withColumn("line_type", F.lit("refund")) \
        .createOrReplaceTempView("bad_copy")
    spark.sql(f"INSERT INTO {table.at(branch)} SELECT * FROM bad_copy")
    return branch


class CorruptingGate:
    """Corrupts the staged curated data, then runs the real gate on it."""

    def __init__(self, real) -> None:  # noqa: ANN001 - ecomflow.pipelines.quality.QualityGate
        self.real = real
        self.corrupted: list[str] = []  # the audit branches it corrupted
        self.table = None

    @property
    def last_report(self):  # noqa: ANN201 - the CLI reads the audited report from the gate
        return self.real.last_report

    def check_input(self, spark, config, run_id) -> None:  # noqa: ANN001 - the input is left alone
        self.real.check_input(spark, config, run_id)

    def __call__(self, spark, staged_run) -> None:  # noqa: ANN001
        self.corrupted.append(corrupt_partition(spark, staged_run.curated, CORRUPTED_PARTITION))
        self.table = staged_run.curated.table
        self.real(spark, staged_run)


@pytest.fixture(scope="module")
def runs(local_stack, spark, tmp_path_factory):
    """A good CLI run, then a corrupted one on the same lake; what the lake, the CLI and SNS said."""
    folder = tmp_path_factory.mktemp("gate")
    lake = folder / "lake"
    topic_arn = aws.client("sns").create_topic(Name=f"ecomflow-{uuid.uuid4().hex[:8]}")["TopicArn"]
    everything, failures_only = Listener(topic_arn), Listener(topic_arn, {"event": ["job_failed"]})

    def cli(source: Path, report: Path) -> int:
        # FIRST quarantines 1 of its 5 lines on purpose: the gate's quarantine limit is raised for it.
        return cli_main(["batch", "--input", str(source), "--lake", str(lake), "--topic_arn", topic_arn,
                         "--report", str(report), "--JOB_NAME", "gate-test", "--max_quarantine_share", "0.25"])

    good_exit = cli(write_csv(folder / "first.csv", FIRST), folder / "first.json")
    good_messages = everything.drain(expected=1)
    before = lake_snapshot(lake)

    real_publish_gate = batch_job.publish_gate
    gates: list[CorruptingGate] = []

    def corrupting_publish_gate(config):  # noqa: ANN001, ANN202
        gates.append(CorruptingGate(real_publish_gate(config)))
        return gates[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_job, "publish_gate", corrupting_publish_gate)
        bad_exit = cli(write_csv(folder / "second.csv", SECOND), folder / "second.json")
    return SimpleNamespace(
        lake=lake, good_exit=good_exit, good_messages=good_messages, before=before, after=lake_snapshot(lake),
        bad_exit=bad_exit, bad_messages=everything.drain(expected=1), filtered=failures_only.drain(expected=1),
        gates=gates, bad_report=json.loads((folder / "second.json").read_text()))


def body(envelope: dict) -> dict:
    return json.loads(envelope["Message"])


def test_a_good_run_publishes_and_says_which_partitions(runs):
    [envelope] = runs.good_messages
    message = body(envelope)
    assert runs.good_exit == 0
    assert envelope["MessageAttributes"]["event"]["Value"] == "storage_updated"
    assert message["curated_partitions"] == ["year=2011/month=1", "year=2011/month=2"]
    assert message["quarantine_partitions"] == ["reason=zero_quantity"]
    assert (message["rows_curated"], message["rows_quarantined"], message["revenue_curated"]) == (4, 1, "-11059.060")
    assert message["quality"]["success"] is True and message["quality"]["failed"] == []
    assert len(runs.before["sales"]) == 4 and len(runs.before["quarantine"]) == 1  # it is in the lake


def test_the_corrupted_run_reached_the_real_gate(runs):
    assert len(runs.gates) == 1 and len(runs.gates[0].corrupted) == 1
    assert runs.gates[0].real.last_report is not None


def test_a_failed_gate_exits_non_zero(runs):
    assert runs.bad_exit == EXIT_GATE_FAILED != 0


def test_a_failed_gate_publishes_nothing(runs):
    assert runs.after == runs.before  # main's snapshots and rows, as readers see them


def test_a_failed_gate_leaves_its_audit_branch_for_inspection(runs, spark):
    from ecomflow.stores import iceberg

    [branch] = runs.gates[0].corrupted
    assert branch == runs.bad_report["audit_branch"] == iceberg.audit_branch(runs.bad_report["run_id"])
    table = runs.gates[0].table
    assert [b["name"] for b in iceberg.branches(spark, table)] == [branch]
    months = {r.month for r in iceberg.read_table(spark, table, branch).select("month").collect()}
    assert 3 in months and 3 not in {r[-1] for r in runs.after["sales"]}  # on the branch, not in main


def test_a_failed_gate_keeps_its_audited_report_in_the_lake(runs):
    kept = json.loads((runs.lake / "_reports" / runs.bad_report["run_id"] / "report.json").read_text())
    assert kept == runs.bad_report and kept["published"] is False


def test_a_failed_gate_sends_the_failed_expectations_over_sns(runs):
    [envelope] = runs.bad_messages
    message = body(envelope)
    assert envelope["MessageAttributes"]["event"]["Value"] == "job_failed"
    assert set(message["failed_expectations"]) == EXPECTED_FAILURES
    assert message["published"] is False and message["error_type"] == "QualityGateError"


def test_subscribers_can_filter_on_the_event_attribute(runs):
    assert [body(e)["event"] for e in runs.filtered] == ["job_failed"]


def test_the_failed_run_report_records_the_gate(runs):
    assert runs.bad_report["published"] is False
    assert set(runs.bad_report["quality"]["failed"]) == EXPECTED_FAILURES


def test_implausible_input_is_announced_as_a_failed_job(local_stack, tmp_path):
    # A folder holding a readme beside its data: refused before the run reads it, announced like any failed gate.
    folder = tmp_path / "incoming"
    folder.mkdir()
    write_csv(folder / "first.csv", FIRST)
    (folder / "readme.txt").write_text("Exports of the shop, one file a day\n", encoding="latin-1")
    topic_arn = aws.client("sns").create_topic(Name=f"ecomflow-{uuid.uuid4().hex[:8]}")["TopicArn"]
    listener = Listener(topic_arn)

    code = cli_main(["batch", "--input", str(folder), "--lake", str(tmp_path / "lake"), "--topic_arn", topic_arn,
                     "--JOB_NAME", "gate-test"])

    [envelope] = listener.drain(expected=1)
    message = body(envelope)
    assert code == EXIT_GATE_FAILED and not (tmp_path / "lake" / "curated").exists()
    assert (envelope["MessageAttributes"]["event"]["Value"], message["published"]) == ("job_failed", False)
    assert message["failed_expectations"] == [
        f"input_header (readme.txt: first line 'Exports of the shop, one file a day' is not the header {HEADER})"]
