"""Named error types of EcomFlow; every failure the project raises on purpose is one of these."""

from __future__ import annotations

from typing import Any


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


MAX_ERROR_TEXT = 300  # characters of one message or error string an API answer carries


def _capped(value: Any) -> Any:
    """`value` with every string in it cut to MAX_ERROR_TEXT characters (an ellipsis marks the cut)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_ERROR_TEXT else value[:MAX_ERROR_TEXT] + "..."
    if isinstance(value, dict):
        return {key: _capped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_capped(item) for item in value]
    return value


class InvalidRequestError(EcomflowError):
    """An API request cannot be accepted; carries the HTTP status and what is wrong with each record.

    Messages and errors are cut to MAX_ERROR_TEXT characters a string, so an answer never echoes
    a whole field, header or body back.
    """

    def __init__(self, status_code: int, message: str, errors: list[dict[str, object]] | None = None) -> None:
        message = _capped(message)
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = [_capped(entry) for entry in errors or []]

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"statusCode": self.status_code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class DeliveryError(EcomflowError):
    """An AWS write kept failing after every retry (Kinesis FailedRecordCount, DynamoDB UnprocessedItems)."""
