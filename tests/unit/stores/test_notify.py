"""SNS notifications: the message bodies, their filterable attributes, and no topic -> no message."""

from __future__ import annotations

import json
import logging

import pytest
from moto import mock_aws

from ecomflow import aws
from ecomflow.app import batch_job
from ecomflow.config import parse_batch_config
from ecomflow.errors import ConfigError, QualityGateError
from ecomflow.spark.report import RunReport
from ecomflow.stores import notify


def report() -> RunReport:
    return RunReport(run_id="20111209T120000Z-abc", input="s3://raw/in.csv", lake="s3://lake", rows_read=10,
                     rows_curated=7, rows_quarantined=2, duplicates_dropped=1, revenue_curated="69.470",
                     partitions_written=["year=2011/month=1", "year=2011/month=2"],
                     quarantine_partitions_written=["reason=zero_quantity"], published=True)


class _Run:
    def __init__(self, run_report: RunReport) -> None:
        self.report = run_report


@pytest.fixture
def sns_queue(monkeypatch):
    """A topic with an SQS queue subscribed to it, in moto's in-process mock."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sns, sqs = aws.client("sns"), aws.client("sqs")
        topic_arn = sns.create_topic(Name="ecomflow-events")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="listener")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        yield topic_arn, lambda: [json.loads(m["Body"]) for m in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])]


def test_storage_updated_names_partitions_rows_revenue_and_run(sns_queue):
    topic_arn, received = sns_queue
    batch_job.StorageUpdated(topic_arn, "ecomflow-batch-etl")(None, _Run(report()))
    [envelope] = received()
    body = json.loads(envelope["Message"])
    assert envelope["MessageAttributes"]["event"] == {"Type": "String", "Value": "storage_updated"}
    assert envelope["MessageAttributes"]["run_id"]["Value"] == "20111209T120000Z-abc"
    assert envelope["Subject"] == "EcomFlow ecomflow-batch-etl: storage updated, 7 rows in 2 partitions"
    assert (body["curated_partitions"], body["rows_curated"], body["revenue_curated"], body["run_id"]) == (
        ["year=2011/month=1", "year=2011/month=2"], 7, "69.470", "20111209T120000Z-abc")
    assert body["quarantine_partitions"] == ["reason=zero_quantity"]


def test_job_failed_names_the_failed_expectations(sns_queue):
    topic_arn, received = sns_queue
    error = QualityGateError(["expect_column_values_to_be_unique(record_id)", "report_rows_balanced (...)"])
    notify.notify_job_failed(topic_arn, "ecomflow-batch-etl", "run-1", error)
    [envelope] = received()
    body = json.loads(envelope["Message"])
    assert envelope["MessageAttributes"]["event"]["Value"] == "job_failed"
    assert envelope["Subject"] == "EcomFlow ecomflow-batch-etl: quality gate failed"
    assert body["failed_expectations"] == error.failed and body["error_type"] == "QualityGateError"


def test_job_failed_carries_any_error(sns_queue):
    topic_arn, received = sns_queue
    notify.notify_job_failed(topic_arn, "job", "run-2", RuntimeError("disk full"))
    body = json.loads(received()[0]["Message"])
    assert (body["error_type"], body["error"], body["failed_expectations"]) == ("RuntimeError", "disk full", [])


def test_no_topic_sends_nothing_and_says_so(caplog):
    with caplog.at_level(logging.INFO, logger="ecomflow.stores.notify"):
        assert notify.publish_event(None, "s", notify.storage_updated_message(report(), "job")) is None
    assert "no SNS topic configured" in caplog.text


def test_a_failed_send_does_not_hide_the_job_error(caplog, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():  # the topic does not exist: SNS answers NotFound
        sent = notify.notify_job_failed("arn:aws:sns:us-east-1:123456789012:missing", "job", "r", ValueError("x"))
    assert sent is None and "could not publish the job_failed notification" in caplog.text


def test_long_subjects_are_cut_to_the_sns_limit():
    assert len(notify._subject("x" * 300)) == notify.SUBJECT_LIMIT


def test_topic_region_comes_from_the_arn():
    assert notify.topic_region("arn:aws:sns:eu-west-1:123456789012:events") == "eu-west-1"


def test_batch_config_reads_topic_and_gate_switch():
    config = parse_batch_config(["b", "--input", "in.csv", "--lake", "lake", "--topic_arn",
                                 "arn:aws:sns:eu-west-1:123456789012:events", "--quality_gate", "off"])
    assert (config.topic_arn, config.quality_gate) == ("arn:aws:sns:eu-west-1:123456789012:events", False)
    assert parse_batch_config(["b", "--input", "in.csv", "--lake", "lake"]).quality_gate is True


@pytest.mark.parametrize("args", [["--quality_gate", "maybe"], ["--topic_arn", "events"]])
def test_batch_config_rejects_bad_topic_or_switch(args):
    with pytest.raises(ConfigError):
        parse_batch_config(["b", "--input", "in.csv", "--lake", "lake", *args])


def test_publish_hooks_run_the_stores_first_and_the_notification_last():

    plain = parse_batch_config(["b", "--input", "in.csv", "--lake", "lake"])
    full = parse_batch_config(["b", "--input", "in.csv", "--lake", "lake", "--catalog_database", "ecomflow",
                               "--redshift_mode", "postgres", "--redshift_dsn", "postgresql://u:p@127.0.0.1/db"])
    assert [type(h) for h in batch_job.publish_hooks(plain)] == [batch_job.StorageUpdated]
    hooks = batch_job.publish_hooks(full)
    assert len(hooks) == 3 and isinstance(hooks[-1], batch_job.StorageUpdated)
