"""Named error types of EcomFlow; every failure the project raises on purpose is one of these."""

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


class PublishError(EcomflowError):
    """Publishing staged data into the lake or a store failed."""


class InvalidRequestError(EcomflowError):
    """An API request cannot be accepted; carries the HTTP status and what is wrong with each record."""

    def __init__(self, status_code: int, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = errors or []

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"statusCode": self.status_code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class DeliveryError(EcomflowError):
    """An AWS write kept failing after every retry (Kinesis FailedRecordCount, DynamoDB UnprocessedItems)."""
