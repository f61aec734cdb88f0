"""One alert per failure: a Glue run that sent its own "job failed" message says so in its error text."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ecomflow.app import batch_job, entry
from ecomflow.errors import FailureReported, PublishError, QualityGateError
from ecomflow.stores import notify

ARGV = ["batch_etl.py", "--input", "s3://raw/incoming/", "--lake", "s3://lake", "--topic_arn",
        "arn:aws:sns:eu-west-1:123456789012:ecomflow", "--quality_gate", "off"]


@pytest.fixture
def failing_run(monkeypatch):
    """run_batch fails with the error the test names; the SNS call answers `sent` (a message id or None)."""
    state = {"error": QualityGateError(["3 expectations failed"]), "sent": "message-id"}

    def run_batch(*args, **kwargs):
        raise state["error"]  # a fresh error each run: notes stay on an exception object

    monkeypatch.setattr(batch_job, "run_batch", run_batch)
    monkeypatch.setattr(batch_job, "build_runtime", lambda name: SimpleNamespace(spark=None))
    monkeypatch.setattr(notify, "notify_job_failed", lambda *args, **kwargs: state["sent"])
    monkeypatch.setattr("ecomflow.app.preflight.check_batch_paths", lambda config: None)
    return state


def test_a_reported_gate_failure_in_glue_is_raised_with_the_mark(failing_run):
    with pytest.raises(FailureReported) as raised:
        entry.run_batch_entry(ARGV, raise_reported=True)

    assert notify.REPORTED_MARK in str(raised.value)
    assert "3 expectations failed" in str(raised.value)


def test_a_gate_failure_outside_glue_keeps_exit_code_3(failing_run):
    assert entry.run_batch_entry(ARGV) == (entry.EXIT_GATE_FAILED, None)


def test_a_reported_crash_in_glue_is_raised_with_the_mark(failing_run):
    failing_run["error"] = PublishError("Redshift merge failed")

    with pytest.raises(FailureReported) as raised:
        entry.run_batch_entry(ARGV, raise_reported=True)

    assert notify.REPORTED_MARK in str(raised.value) and "PublishError: Redshift merge failed" in str(raised.value)


def test_a_failure_whose_message_did_not_go_out_is_left_to_the_rule(failing_run):
    failing_run["sent"] = None  # no topic, or SNS refused: the EventBridge rule must alert
    failing_run["error"] = PublishError("Redshift merge failed")

    with pytest.raises(PublishError) as raised:
        entry.run_batch_entry(ARGV, raise_reported=True)

    assert not notify.was_reported(raised.value)
    assert notify.REPORTED_MARK not in str(raised.value)


def test_an_unreported_gate_failure_keeps_its_exit_code(failing_run):
    failing_run["sent"] = None

    assert entry.run_batch_entry(ARGV, raise_reported=True) == (entry.EXIT_GATE_FAILED, None)
