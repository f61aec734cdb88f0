"""Job configuration: one frozen dataclass per job, parsed once from Glue-style arguments.

The same argument names work in AWS Glue (`--input s3://...`) and locally
(`ecomflow batch --input data.csv`), because both go through `getResolvedOptions`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Sequence

from ecomflow.errors import ConfigError

DEFAULT_ENCODING = "ISO-8859-1"
DEFAULT_DATE_FORMAT = "M/d/yyyy H:mm"
DEFAULT_SERVICE_CODES: tuple[str, ...] = (
    "POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B",
)
SUPPORTED_ENCODINGS = {"ISO-8859-1": "ISO-8859-1", "LATIN1": "ISO-8859-1", "LATIN-1": "ISO-8859-1",
                       "UTF-8": "UTF-8", "UTF8": "UTF-8", "UTF-8-SIG": "UTF-8"}

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def to_uri(path_or_uri: str) -> str:
    """Return `path_or_uri` as a URI: local paths become absolute `file://` URIs, URIs stay."""
    if _SCHEME.match(path_or_uri):
        return path_or_uri.rstrip("/") if not path_or_uri.endswith(":///") else path_or_uri
    return "file://" + os.path.abspath(os.path.expanduser(path_or_uri))


@dataclass(frozen=True)
class CleaningRules:
    """Parameters of the cleaning transforms shared by the batch and the streaming path."""

    date_format: str = DEFAULT_DATE_FORMAT
    service_codes: tuple[str, ...] = DEFAULT_SERVICE_CODES


@dataclass(frozen=True)
class BatchConfig:
    """Everything the batch job needs to know, parsed once."""

    input_uri: str
    lake_uri: str
    report_path: str | None = None
    encoding: str = DEFAULT_ENCODING
    rules: CleaningRules = field(default_factory=CleaningRules)
    job_name: str = "ecomflow-batch-etl"

    @property
    def curated_uri(self) -> str:
        return f"{self.lake_uri}/curated/sales"

    @property
    def quarantine_uri(self) -> str:
        return f"{self.lake_uri}/quarantine/sales"

    @property
    def runs_uri(self) -> str:
        return f"{self.lake_uri}/_runs"


BATCH_REQUIRED = ("input", "lake")
BATCH_OPTIONAL = ("report", "encoding", "date_format", "service_codes", "JOB_NAME")


def resolve_args(argv: Sequence[str], required: Sequence[str], optional: Sequence[str]) -> dict[str, str]:
    """Parse `--name value` arguments with Glue's own `getResolvedOptions`.

    Glue's parser only knows required options, so the optional ones that are present are
    added to the list it is asked to resolve.
    """
    from awsglue.utils import GlueArgumentError, getResolvedOptions

    argv = list(argv)
    present = [name for name in optional if f"--{name}" in argv]
    try:
        return getResolvedOptions(argv, [*required, *present])
    except GlueArgumentError as exc:
        raise ConfigError(str(exc)) from exc


def normalise_encoding(name: str) -> str:
    """Map an encoding name to the Java charset the reader uses, or raise ConfigError."""
    try:
        return SUPPORTED_ENCODINGS[name.strip().upper()]
    except KeyError:
        raise ConfigError(
            f"unsupported encoding {name!r}: use one of ISO-8859-1, UTF-8 (a BOM is accepted)"
        ) from None


def parse_service_codes(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of service stock codes (upper-cased, blanks dropped)."""
    codes = tuple(code.strip().upper() for code in text.split(",") if code.strip())
    if not codes:
        raise ConfigError("--service_codes is empty")
    return codes


def parse_batch_config(argv: Sequence[str]) -> BatchConfig:
    """Build the batch job's config from Glue-style arguments (`argv[0]` is the program name)."""
    args = resolve_args(argv, BATCH_REQUIRED, BATCH_OPTIONAL)
    rules = CleaningRules(
        date_format=args.get("date_format") or DEFAULT_DATE_FORMAT,
        service_codes=parse_service_codes(args["service_codes"]) if args.get("service_codes")
        else DEFAULT_SERVICE_CODES,
    )
    return BatchConfig(
        input_uri=to_uri(args["input"]),
        lake_uri=to_uri(args["lake"]),
        report_path=args.get("report"),
        encoding=normalise_encoding(args.get("encoding") or DEFAULT_ENCODING),
        rules=rules,
        job_name=args.get("JOB_NAME") or "ecomflow-batch-etl",
    )
