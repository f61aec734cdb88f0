"""Named error types of EcomFlow; every failure the project raises on purpose is one of these."""

from __future__ import annotations


class EcomflowError(Exception):
    """Base of every error EcomFlow raises on purpose."""


class ConfigError(EcomflowError):
    """A job argument or setting is missing or invalid."""


class InputError(EcomflowError):
    """The input cannot be read at all (missing path, empty input, unknown encoding)."""


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
