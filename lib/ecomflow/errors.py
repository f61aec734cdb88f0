"""Named error types of EcomFlow; every failure the project raises on purpose is one of these.

HTTP is not spoken here: the Lambdas answer with Powertools' HTTP errors, raised in `ecomflow.api`
(`ecomflow.api.errors` holds the one that names bad records).
"""

from __future__ import annotations


class EcomflowError(Exception):
    """Base of every error EcomFlow raises on purpose."""


class ConfigError(EcomflowError):
    """A job argument or setting is missing or invalid."""


class InputError(EcomflowError):
    """The input cannot be read at all (missing path, empty input, unknown encoding)."""


class OutputError(EcomflowError):
    """An output location (the lake, a checkpoint folder, a report file) cannot be written."""


class EnvironmentMissingError(EcomflowError):
    """A binary or service the command needs is not installed or not reachable."""


class PortInUseError(EnvironmentMissingError):
    """A loopback port the local stack wants to listen on is already taken by another process."""


class LocalStackError(EcomflowError):
    """A local stand-in (moto server, PostgreSQL) failed to start, stop or answer in time."""


class QualityGateError(EcomflowError):
    """Staged data failed the quality gate and was not published."""

    def __init__(self, failed: list[str]) -> None:
        super().__init__("quality gate failed: " + "; ".join(failed))
        self.failed = failed
        self.report: object | None = None  # the audited run report (a RunReport), when the job kept one


class FailureReported(EcomflowError):
    """A Glue run failed after it sent its own "job failed" message; its text carries `notify.REPORTED_MARK`.

    The job-failure EventBridge rule (cloudformation/glue.yaml) leaves such runs out, so a failure
    alerts once: by the job's message where the job could send it, by the rule otherwise.
    """


class PublishError(EcomflowError):
    """Publishing staged data into the lake or a store failed."""


class LimitError(EcomflowError):
    """A write breaks a limit its store enforces before sending (the store names the limit and its maximum).

    What a caller answers is its own business: the ingest API turns a `SizeLimitError` into a 413
    and any other `LimitError` into a 400 (`ecomflow.api.ingest.send_records`).
    """

    def __init__(self, message: str, *, limit: str, maximum: int, actual: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.maximum = maximum
        self.actual = actual


class SizeLimitError(LimitError):
    """The limit broken is a size (bytes of a record, records or bytes of a call)."""


class DeliveryError(EcomflowError):
    """An AWS write kept failing after every retry (Kinesis FailedRecordCount, DynamoDB UnprocessedItems)."""
