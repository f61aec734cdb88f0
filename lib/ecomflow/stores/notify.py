"""SNS notifications of the batch job: "storage updated" after a publish, "job failed" on a failure.

Every message is a JSON document with an `event` field, and carries the message attributes `event`
(`storage_updated` | `job_failed`), `job_name` and `run_id`, so subscribers can filter on them
(an SNS subscription filter policy such as `{"event": ["job_failed"]}`). With no topic configured
nothing is sent and a log line says so.

    publish_event(topic_arn, subject, storage_updated_message(report, job_name))
    notify_job_failed(config.topic_arn, config.job_name, run_id, error)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecomflow import aws, contract
from ecomflow.errors import PublishError, QualityGateError
from ecomflow.spark.report import RunReport

log = logging.getLogger(__name__)

EVENT_STORAGE_UPDATED = "storage_updated"
EVENT_JOB_FAILED = "job_failed"
SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters
MESSAGE_LIMIT = 256 * 1024  # SNS: at most 256 KiB a message
MAX_LISTED = 500  # partitions or failed checks listed in one message; the count is always exact
# In the error text of a Glue run that sent its own "job failed" message: the job-failure
# EventBridge rule (cloudformation/glue.yaml) matches only runs whose message lacks it.
REPORTED_MARK = "ecomflow:job_failed-sent"


def topic_region(topic_arn: str) -> str | None:
    """The region of an SNS topic ARN (`arn:aws:sns:<region>:<account>:<name>`), or None."""
    parts = topic_arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[0] == "arn" and parts[3] else None


def _listed(items: list[str]) -> list[str]:
    return items if len(items) <= MAX_LISTED else [*items[:MAX_LISTED], f"... {len(items) - MAX_LISTED} more"]


def _subject(text: str) -> str:
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    return ascii_text if len(ascii_text) <= SUBJECT_LIMIT else ascii_text[: SUBJECT_LIMIT - 3] + "..."


def storage_updated_message(report: RunReport, job_name: str) -> dict[str, Any]:
    """The body of a "storage updated" message: what one published run changed in the lake."""
    return {
        "event": EVENT_STORAGE_UPDATED,
        "job_name": job_name,
        "run_id": report.run_id,
        "input": report.input,
        "lake": report.lake,
        "rows_read": report.rows_read,
        "rows_curated": report.rows_curated,
        "rows_quarantined": report.rows_quarantined,
        "duplicates_dropped": report.duplicates_dropped,
        "revenue_curated": report.revenue_curated,
        "curated_table": contract.zone_uri(report.lake, contract.CURATED_ZONE),
        "curated_partitions_count": len(report.partitions_written),
        "curated_partitions": _listed(list(report.partitions_written)),
        "quarantine_table": contract.zone_uri(report.lake, contract.QUARANTINE_ZONE),
        "quarantine_partitions_count": len(report.quarantine_partitions_written),
        "quarantine_partitions": _listed(list(report.quarantine_partitions_written)),
        "quality": report.quality,
    }


def job_failed_message(job_name: str, run_id: str | None, error: BaseException,
                       report: RunReport | None = None) -> dict[str, Any]:
    """The body of a "job failed" message: the error, and the failed expectations of a failed gate."""
    failed = list(error.failed) if isinstance(error, QualityGateError) else []
    return {
        "event": EVENT_JOB_FAILED,
        "job_name": job_name,
        "run_id": run_id,
        "error_type": type(error).__name__,
        "error": str(error),
        "failed_expectations_count": len(failed),
        "failed_expectations": _listed(failed),
        "published": bool(report and report.published),
        "input": report.input if report else None,
        "rows_read": report.rows_read if report else None,
    }


def publish_event(topic_arn: str | None, subject: str, message: dict[str, Any]) -> str | None:
    """Publish `message` as JSON to `topic_arn` with filterable attributes; return the message id.

    Without a topic nothing is sent (None is returned).

    Raises:
        PublishError: SNS refused the message (after the shared client's retries).
    """
    event = str(message["event"])
    if not topic_arn:
        log.info("no SNS topic configured (--topic_arn): %s notification of run %s not sent",
                 event, message.get("run_id"))
        return None
    body = json.dumps(message, indent=2, default=str)
    if len(body.encode("utf-8")) > MESSAGE_LIMIT:
        raise PublishError(f"{event} message of {len(body)} bytes exceeds SNS's {MESSAGE_LIMIT} bytes")
    attributes = {"event": {"DataType": "String", "StringValue": event}}
    for name in ("job_name", "run_id"):
        if message.get(name):
            attributes[name] = {"DataType": "String", "StringValue": str(message[name])}
    request: dict[str, Any] = {"TopicArn": topic_arn, "Subject": _subject(subject), "Message": body,
                               "MessageAttributes": attributes}
    if topic_arn.endswith(".fifo"):
        request["MessageGroupId"] = str(message.get("job_name") or "ecomflow")
        request["MessageDeduplicationId"] = f"{event}-{message.get('run_id')}"[:128]
    try:
        response = aws.client("sns", topic_region(topic_arn)).publish(**request)
    except (BotoCoreError, ClientError) as exc:
        raise PublishError(f"could not publish the {event} notification to {topic_arn}: {exc}") from exc
    log.info("sent %s notification of run %s to %s", event, message.get("run_id"), topic_arn)
    return str(response["MessageId"])


def mark_reported(error: BaseException) -> None:
    """Note on `error` that its "job failed" message went out (`was_reported`)."""
    error.add_note(REPORTED_MARK)


def was_reported(error: BaseException) -> bool:
    """Whether a "job failed" message for `error` was sent (`mark_reported`)."""
    return REPORTED_MARK in getattr(error, "__notes__", ())


def notify_job_failed(topic_arn: str | None, job_name: str, run_id: str | None, error: BaseException,
                      report: RunReport | None = None) -> str | None:
    """Send the "job failed" message; a failure to send is logged, never raised over the job's error."""
    what = "quality gate failed" if isinstance(error, QualityGateError) else f"failed ({type(error).__name__})"
    try:
        return publish_event(topic_arn, f"EcomFlow {job_name}: {what}",
                             job_failed_message(job_name, run_id, error, report))
    except PublishError as exc:
        log.error("%s", exc)
        return None
