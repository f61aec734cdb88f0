"""Job configuration: one frozen dataclass per job, parsed once from Glue-style arguments.

The same argument names work in AWS Glue (`--input s3://...`) and locally
(`ecomflow batch --input data.csv`), because both go through `getResolvedOptions`. Glue's parser
ignores names it was not asked for; the CLI refuses them first (`check_argument_names`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from ecomflow import contract
from ecomflow.errors import ConfigError

DEFAULT_ENCODING = "ISO-8859-1"
DEFAULT_DATE_FORMAT = "M/d/yyyy H:mm"
DEFAULT_SERVICE_CODES: tuple[str, ...] = (
    "POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B",
)
SUPPORTED_ENCODINGS = {"ISO-8859-1": "ISO-8859-1", "LATIN1": "ISO-8859-1", "LATIN-1": "ISO-8859-1",
                       "UTF-8": "UTF-8", "UTF8": "UTF-8", "UTF-8-SIG": "UTF-8"}

# The quality gate's plausibility limits (`--max_quarantine_share`, `--min_invoice_date`,
# `--max_invoice_date`): low enough to stop a wrong `--date_format` or a file of another shape, loose
# enough for the real file (0 quarantined, 2010-12-01..2011-12-09) and the generated one (0.05 %).
DEFAULT_MAX_QUARANTINE_SHARE = 0.05
DEFAULT_MIN_INVOICE_DATE = "2000-01-01"
DEFAULT_MAX_INVOICE_DATE = "now+1d"

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_RELATIVE_DATE = re.compile(r"^now(?:([+-])([0-9]{1,5})d)?$")


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


REDSHIFT_MODES: tuple[str, ...] = ("off", "postgres", "data-api")


@dataclass(frozen=True)
class RedshiftSettings:
    """Where the batch job upserts `sales`: nowhere, a PostgreSQL stand-in, or Redshift via the Data API.

    `postgres` needs `dsn` (a libpq URL, local stack only). `data-api` needs `workgroup`
    (Redshift Serverless) or `cluster_id` (provisioned, with `secret_arn` or `db_user`), and
    `iam_role`, the role Redshift assumes to COPY the curated parquet from S3.
    """

    mode: str = "off"
    dsn: str | None = None
    workgroup: str | None = None
    cluster_id: str | None = None
    database: str = "dev"
    secret_arn: str | None = None
    db_user: str | None = None
    iam_role: str | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


@dataclass(frozen=True)
class DateBound:
    """One end of the plausible invoice-date window: a fixed day, or days from the run's start (`now+1d`).

    A fixed day is whole (`2000-01-01` as a lower bound means from its midnight, as an upper bound up
    to its end); a relative bound is the instant `now ± days` (UTC, the clock the wall-clock invoice
    times are compared with; a day of margin covers any time zone).
    """

    day: date | None = None
    days_from_now: int = 0

    def resolve(self, now: datetime, upper: bool) -> datetime:
        """The bound as a naive timestamp; an upper bound is exclusive, a lower one inclusive."""
        if self.day is None:
            return now.replace(tzinfo=None) + timedelta(days=self.days_from_now)
        return datetime.combine(self.day + timedelta(days=1) if upper else self.day, time())

    def __str__(self) -> str:
        if self.day is not None:
            return self.day.isoformat()
        return "now" if not self.days_from_now else f"now{self.days_from_now:+d}d"


@dataclass(frozen=True)
class PlausibilityLimits:
    """What the quality gate takes for plausible input, besides the per-file and text checks.

    `max_quarantine_share` is the largest share of the run's distinct lines that may be quarantined;
    curated invoice times must fall within [`min_invoice_date`, `max_invoice_date`].
    """

    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE
    min_invoice_date: DateBound = DateBound(day=date.fromisoformat(DEFAULT_MIN_INVOICE_DATE))
    max_invoice_date: DateBound = DateBound(days_from_now=1)  # DEFAULT_MAX_INVOICE_DATE

    def invoice_window(self, now: datetime) -> tuple[datetime, datetime]:
        """[earliest, latest) plausible invoice time for a run that starts at `now`."""
        return self.min_invoice_date.resolve(now, upper=False), self.max_invoice_date.resolve(now, upper=True)


class LakeLayout:
    """The lake's zones below `lake_uri`, shared by the batch and the streaming job."""

    lake_uri: str
    catalog_database: str | None

    @property
    def curated_uri(self) -> str:
        return contract.zone_uri(self.lake_uri, contract.CURATED_ZONE)

    @property
    def quarantine_uri(self) -> str:
        return contract.zone_uri(self.lake_uri, contract.QUARANTINE_ZONE)

    @property
    def runs_uri(self) -> str:
        return contract.zone_uri(self.lake_uri, contract.RUNS_ZONE)

    @property
    def ledger_uri(self) -> str:
        return contract.zone_uri(self.lake_uri, contract.LEDGER_ZONE)

    @property
    def lake_database(self) -> str:
        """The catalog database of the lake's Iceberg tables: `--catalog_database`, else `ecomflow`."""
        return self.catalog_database or contract.LAKE_DATABASE


@dataclass(frozen=True)
class BatchConfig(LakeLayout):
    """Everything the batch job needs to know, parsed once."""

    input_uri: str
    lake_uri: str
    report_path: str | None = None
    encoding: str = DEFAULT_ENCODING
    rules: CleaningRules = field(default_factory=CleaningRules)
    job_name: str = "ecomflow-batch-etl"
    catalog_database: str | None = None  # Glue Data Catalog database; None = do not register
    redshift: RedshiftSettings = field(default_factory=RedshiftSettings)
    topic_arn: str | None = None  # SNS topic for "storage updated" / "job failed"; None = no messages
    quality_gate: bool = True  # audit the staged partitions before publishing (`--quality_gate off` skips)
    plausibility: PlausibilityLimits = field(default_factory=PlausibilityLimits)  # the gate's input limits
    input_format: str = "csv"  # or "stream-archive": the stream's raw archive (ecomflow.app.archive_replay)
    incremental: bool = False  # read only the input objects the lake's ledger does not hold (stores.input_ledger)
    input_files: tuple[str, ...] = ()  # the objects to read, when a run chose them (incremental); else all of input_uri



BATCH_REQUIRED = ("input", "lake")
REDSHIFT_ARGS = ("redshift_mode", "redshift_dsn", "redshift_workgroup", "redshift_cluster_id",
                 "redshift_database", "redshift_secret_arn", "redshift_db_user", "redshift_iam_role")
NOTIFY_ARGS = ("topic_arn",)
QUALITY_ARGS = ("quality_gate",)
PLAUSIBILITY_ARGS = ("max_quarantine_share", "min_invoice_date", "max_invoice_date")
# `--input_format`: raw CSV files, or the stream's raw archive (Firehose's objects under raw/stream/).
INPUT_FORMATS = ("csv", "stream-archive")
BATCH_OPTIONAL = ("report", "encoding", "date_format", "service_codes", "JOB_NAME",
                  "catalog_database", *REDSHIFT_ARGS, *NOTIFY_ARGS, *QUALITY_ARGS, *PLAUSIBILITY_ARGS,
                  "input_format", "incremental")
BATCH_ARGS = (*BATCH_REQUIRED, *BATCH_OPTIONAL)
SWITCH_VALUES = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


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


def check_argument_names(args: Sequence[str], names: Sequence[str], job: str) -> list[str]:
    """Refuse what Glue's parser passes over in silence: unknown `--names`, stray words, missing or repeated values.

    Only the `ecomflow` CLI is this strict. Glue starts the job scripts with arguments of its own
    (`--JOB_NAME`, `--TempDir`, `--job-bookmark-option`, `--enable-metrics`, ...), which they must
    keep ignoring, so `resolve_args` stays as Glue parses.

    Args:
        args: the job's arguments, without the program name.
        names: the argument names the job takes (without `--`).
        job: what takes them, for the message ("the batch job").

    Returns:
        `args` with `--name=value` written as `--name value`, as `resolve_args` expects it.

    Raises:
        ConfigError: an unknown name (with the closest known one as a hint), a word that is not
            an argument's value, an argument without a value, or one given twice.
    """
    resolved: list[str] = []
    seen: set[str] = set()
    index = 0
    while index < len(args):
        token = args[index]
        if not token.startswith("--"):
            raise ConfigError(f"unexpected argument {token!r}: {job} takes --name value pairs")
        name, has_value, value = token[2:].partition("=")
        if name not in names:
            raise ConfigError(unknown_argument_message(name, names, job))
        if name in seen:
            raise ConfigError(f"--{name} is given twice")
        seen.add(name)
        if not has_value:
            if index + 1 == len(args) or args[index + 1].startswith("--"):
                raise ConfigError(f"--{name} needs a value")
            value = args[index + 1]
            index += 1
        resolved += [f"--{name}", value]
        index += 1
    return resolved


def unknown_argument_message(name: str, names: Sequence[str], job: str) -> str:
    """"unknown option --qualitygate (did you mean --quality_gate?)", or the names `job` takes."""
    by_key = {known.lower(): known for known in names}
    close = difflib.get_close_matches(name.lower().replace("-", "_"), list(by_key), n=1, cutoff=0.6)
    if close:
        return f"unknown option --{name} (did you mean --{by_key[close[0]]}?)"
    return f"unknown option --{name}: {job} takes {', '.join('--' + known for known in names)}"


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


def parse_switch(name: str, value: str | None, default: bool) -> bool:
    """Parse an `on|off` job argument (true/false and yes/no are accepted too), or raise ConfigError."""
    if value is None or not value.strip():
        return default
    try:
        return SWITCH_VALUES[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"--{name} {value!r}: use on or off") from None


def parse_topic_arn(value: str | None) -> str | None:
    """Check an SNS topic ARN (`arn:<partition>:sns:<region>:<account>:<name>`); blank means none."""
    if value is None or not value.strip():
        return None
    parts = value.strip().split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not all(parts[3:]):
        raise ConfigError(f"--topic_arn {value!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    return value.strip()


def parse_share(name: str, value: str | None, default: float) -> float:
    """Parse a share argument (`0.05` = 5 %) within [0, 1]; blank means `default`; or raise ConfigError."""
    if value is None or not value.strip():
        return default
    try:
        share = float(value.strip())
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: use a share between 0 and 1, e.g. 0.05 for 5 %") from None
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"--{name} {value!r}: use a share between 0 and 1, e.g. 0.05 for 5 %")
    return share


def parse_date_bound(name: str, value: str | None, default: str) -> DateBound:
    """Parse a date bound: `YYYY-MM-DD`, `now`, `now+Nd` or `now-Nd`; blank means `default`."""
    text = (value or "").strip().lower() or default
    relative = _RELATIVE_DATE.match(text)
    if relative:
        sign, days = relative.groups()
        return DateBound(days_from_now=int(days or 0) * (-1 if sign == "-" else 1))
    try:
        return DateBound(day=date.fromisoformat(text))
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: use a day (2000-01-01) or days from the run's start "
                          f"(now+1d, now-30d)") from None


def parse_plausibility_limits(args: dict[str, str]) -> PlausibilityLimits:
    """The gate's limits from `--max_quarantine_share`, `--min_invoice_date`, `--max_invoice_date`."""
    limits = PlausibilityLimits(
        max_quarantine_share=parse_share("max_quarantine_share", args.get("max_quarantine_share"),
                                         DEFAULT_MAX_QUARANTINE_SHARE),
        min_invoice_date=parse_date_bound("min_invoice_date", args.get("min_invoice_date"),
                                          DEFAULT_MIN_INVOICE_DATE),
        max_invoice_date=parse_date_bound("max_invoice_date", args.get("max_invoice_date"),
                                          DEFAULT_MAX_INVOICE_DATE),
    )
    earliest, latest = limits.invoice_window(datetime.now(UTC))
    if earliest >= latest:
        raise ConfigError(f"--min_invoice_date {limits.min_invoice_date} is not before "
                          f"--max_invoice_date {limits.max_invoice_date}")
    return limits


def parse_redshift_settings(args: dict[str, str]) -> RedshiftSettings:
    """Build RedshiftSettings from resolved `redshift_*` arguments, or raise ConfigError."""
    mode = (args.get("redshift_mode") or "off").strip().lower()
    if mode not in REDSHIFT_MODES:
        raise ConfigError(f"--redshift_mode {mode!r}: use one of {', '.join(REDSHIFT_MODES)}")
    settings = RedshiftSettings(
        mode=mode,
        dsn=args.get("redshift_dsn") or None,
        workgroup=args.get("redshift_workgroup") or None,
        cluster_id=args.get("redshift_cluster_id") or None,
        database=args.get("redshift_database") or "dev",
        secret_arn=args.get("redshift_secret_arn") or None,
        db_user=args.get("redshift_db_user") or None,
        iam_role=args.get("redshift_iam_role") or None,
    )
    if mode == "postgres" and not settings.dsn:
        raise ConfigError("--redshift_mode postgres needs --redshift_dsn postgresql://user:pw@host:port/db")
    if mode == "data-api":
        if bool(settings.workgroup) == bool(settings.cluster_id):
            raise ConfigError("--redshift_mode data-api needs exactly one of --redshift_workgroup "
                              "(Serverless) or --redshift_cluster_id (provisioned)")
        if settings.workgroup and settings.db_user:
            raise ConfigError("--redshift_db_user is for a provisioned cluster: a Serverless workgroup takes "
                              "--redshift_secret_arn (the ETL user's), or neither for the job role's own user")
        if settings.cluster_id and not (settings.secret_arn or settings.db_user):
            raise ConfigError("--redshift_cluster_id needs --redshift_secret_arn or --redshift_db_user")
        if not settings.iam_role:
            raise ConfigError("--redshift_mode data-api needs --redshift_iam_role (the role COPY assumes "
                              "to read the curated parquet)")
    return settings


def parse_cleaning_rules(args: dict[str, str]) -> CleaningRules:
    """The cleaning rules from `--date_format` and `--service_codes` (defaults where absent)."""
    return CleaningRules(
        date_format=args.get("date_format") or DEFAULT_DATE_FORMAT,
        service_codes=parse_service_codes(args["service_codes"]) if args.get("service_codes")
        else DEFAULT_SERVICE_CODES,
    )


def parse_batch_config(argv: Sequence[str]) -> BatchConfig:
    """Build the batch job's config from Glue-style arguments (`argv[0]` is the program name)."""
    args = resolve_args(argv, BATCH_REQUIRED, BATCH_OPTIONAL)
    return BatchConfig(
        input_uri=to_uri(args["input"]),
        lake_uri=to_uri(args["lake"]),
        report_path=args.get("report"),
        encoding=normalise_encoding(args.get("encoding") or DEFAULT_ENCODING),
        rules=parse_cleaning_rules(args),
        job_name=args.get("JOB_NAME") or "ecomflow-batch-etl",
        catalog_database=args.get("catalog_database") or None,
        redshift=parse_redshift_settings(args),
        topic_arn=parse_topic_arn(args.get("topic_arn")),
        quality_gate=parse_switch("quality_gate", args.get("quality_gate"), default=True),
        plausibility=parse_plausibility_limits(args),
        input_format=parse_input_format(args.get("input_format")),
        incremental=parse_switch("incremental", args.get("incremental"), default=False),
    )


def parse_input_format(value: str | None) -> str:
    """`--input_format`: `csv` (default) or `stream-archive`, or raise ConfigError."""
    text = (value or "").strip().lower() or INPUT_FORMATS[0]
    if text not in INPUT_FORMATS:
        raise ConfigError(f"--input_format {value!r}: use one of {', '.join(INPUT_FORMATS)}")
    return text


# --- streaming job ---------------------------------------------------------------------------

DEFAULT_WINDOW_SECONDS = 10
DEFAULT_STREAM_NAME = "ecomflow-records"  # the local stack's stream; on AWS the stack names it
DEFAULT_INVOICE_TABLE = "Invoice"
DEFAULT_CUSTOMER_TABLE = "Customer"
DEFAULT_MAX_RECORDS_PER_SHARD = 1000  # GetRecords `Limit` of the local poller (AWS allows up to 10,000)
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")

# Argument names of jobs/stream_etl.py (Glue job parameters) and of `ecomflow stream`.
STREAM_REQUIRED = ("stream_name", "lake", "checkpoint_location")
STREAM_OPTIONAL = (
    "JOB_NAME", "stream_arn", "region", "window_size", "starting_position", "invoice_table", "customer_table",
    "max_records_per_shard", "date_format", "service_codes", "catalog_database", *REDSHIFT_ARGS, *NOTIFY_ARGS,
    "until_idle", "max_batches",  # the local shard poller only: Glue's forEachBatch runs until stopped
)
STREAM_ARGS = (*STREAM_REQUIRED, *STREAM_OPTIONAL)


@dataclass(frozen=True)
class StreamConfig(LakeLayout):
    """Everything the streaming job (Glue `forEachBatch` or the local shard poller) needs, parsed once.

    `checkpoint_uri` is where the streaming checkpoint lives: Glue's Structured Streaming checkpoint
    (`checkpointLocation`, an s3:// URI) on AWS, the poller's sequence-number file locally.
    `redshift` takes the batch job's `--redshift_*` arguments; mode "off" leaves Redshift out.
    """

    stream_name: str
    lake_uri: str
    checkpoint_uri: str
    stream_arn: str | None = None
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    starting_position: str = "TRIM_HORIZON"
    invoice_table: str = DEFAULT_INVOICE_TABLE
    customer_table: str = DEFAULT_CUSTOMER_TABLE
    max_records_per_shard: int = DEFAULT_MAX_RECORDS_PER_SHARD
    redshift: RedshiftSettings = field(default_factory=RedshiftSettings)
    rules: CleaningRules = field(default_factory=CleaningRules)
    job_name: str = "ecomflow-stream-etl"
    region: str | None = None  # `--region`, else the stream ARN's; None: the job's environment decides
    topic_arn: str | None = None  # SNS topic for "lines refused by a store"; None = the log only
    until_idle: bool = False  # local poller: stop once a poll finds nothing new
    max_batches: int | None = None  # local poller: stop after this many micro-batches
    catalog_database: str | None = None  # the lake tables' catalog database; None: `ecomflow`

    @property
    def window_size(self) -> str:
        """The trigger interval in the form Glue's `forEachBatch` option `windowSize` expects."""
        return f"{self.window_seconds} seconds"

    @property
    def source(self) -> str:
        """The lineage `source` of streamed lines."""
        return f"kinesis://{self.stream_name}"


def _positive_int(args: dict[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"--{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"--{name} must be positive, got {value}")
    return value


def parse_stream_config(argv: Sequence[str]) -> StreamConfig:
    """Build the streaming job's config from Glue-style arguments (`argv[0]` is the program name)."""
    args = resolve_args(argv, STREAM_REQUIRED, STREAM_OPTIONAL)
    position = (args.get("starting_position") or "TRIM_HORIZON").upper()
    if position not in STARTING_POSITIONS:
        raise ConfigError(f"--starting_position must be one of {', '.join(STARTING_POSITIONS)}, got {position!r}")
    max_records = _positive_int(args, "max_records_per_shard", DEFAULT_MAX_RECORDS_PER_SHARD)
    if max_records > 10_000:
        raise ConfigError("--max_records_per_shard may not exceed 10000 (the GetRecords limit)")
    max_batches = _positive_int(args, "max_batches", 0) or None
    return StreamConfig(
        stream_name=args["stream_name"],
        lake_uri=to_uri(args["lake"]),
        checkpoint_uri=args["checkpoint_location"],
        stream_arn=args.get("stream_arn") or None,
        window_seconds=_positive_int(args, "window_size", DEFAULT_WINDOW_SECONDS),
        starting_position=position,
        invoice_table=args.get("invoice_table") or DEFAULT_INVOICE_TABLE,
        customer_table=args.get("customer_table") or DEFAULT_CUSTOMER_TABLE,
        max_records_per_shard=max_records,
        redshift=parse_redshift_settings(args),
        rules=parse_cleaning_rules(args),
        job_name=args.get("JOB_NAME") or "ecomflow-stream-etl",
        region=(args.get("region") or "").strip() or arn_region(args.get("stream_arn")),
        topic_arn=parse_topic_arn(args.get("topic_arn")),
        until_idle=parse_switch("until_idle", args.get("until_idle"), default=False),
        catalog_database=args.get("catalog_database") or None,
        max_batches=max_batches,
    )


def arn_region(arn: str | None) -> str | None:
    """The region of an ARN (`arn:aws:kinesis:eu-west-1:123456789012:stream/records`), None without one."""
    parts = (arn or "").split(":")
    return parts[3] or None if len(parts) > 5 and parts[0] == "arn" else None


# --- Lambdas ---------------------------------------------------------------------------------

# Environment variables of the ingest and query Lambdas (set by CloudFormation, or by `ecomflow api`).
ENV_STREAM_NAME = "ECOMFLOW_STREAM_NAME"
ENV_INVOICE_TABLE = "ECOMFLOW_INVOICE_TABLE"
ENV_CUSTOMER_TABLE = "ECOMFLOW_CUSTOMER_TABLE"
# Who may call (both Lambdas): the issuers of the staff and the customer user pools
# (`https://cognito-idp.<region>.amazonaws.com/<pool id>`) and the ids of the app clients people sign in with.
ENV_STAFF_ISSUER = "ECOMFLOW_STAFF_ISSUER"
ENV_CUSTOMER_ISSUER = "ECOMFLOW_CUSTOMER_ISSUER"
ENV_APP_CLIENTS = "ECOMFLOW_APP_CLIENTS"  # comma-separated


@dataclass(frozen=True)
class AccessConfig:
    """The user pools and app clients whose tokens name a role (`ecomflow.api.access`)."""

    staff_issuer: str
    customer_issuer: str
    app_clients: frozenset[str]


@dataclass(frozen=True)
class ApiConfig:
    """What the Lambdas need: the Kinesis stream (ingest), the DynamoDB tables (query), the pools (both)."""

    stream_name: str | None = None
    invoice_table: str = DEFAULT_INVOICE_TABLE
    customer_table: str = DEFAULT_CUSTOMER_TABLE
    staff_issuer: str | None = None
    customer_issuer: str | None = None
    app_clients: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ApiConfig:
        env = dict(os.environ if env is None else env)
        return cls(
            stream_name=env.get(ENV_STREAM_NAME) or None,
            invoice_table=env.get(ENV_INVOICE_TABLE) or DEFAULT_INVOICE_TABLE,
            customer_table=env.get(ENV_CUSTOMER_TABLE) or DEFAULT_CUSTOMER_TABLE,
            staff_issuer=env.get(ENV_STAFF_ISSUER) or None,
            customer_issuer=env.get(ENV_CUSTOMER_ISSUER) or None,
            app_clients=frozenset(c.strip() for c in (env.get(ENV_APP_CLIENTS) or "").split(",") if c.strip()),
        )

    def require_access(self) -> AccessConfig:
        """The pools and app clients, or ConfigError naming the variables to set (no caller is let in without)."""
        missing = [name for name, value in ((ENV_STAFF_ISSUER, self.staff_issuer),
                                            (ENV_CUSTOMER_ISSUER, self.customer_issuer),
                                            (ENV_APP_CLIENTS, self.app_clients)) if not value]
        if missing or self.staff_issuer is None or self.customer_issuer is None:
            raise ConfigError(f"{', '.join(missing)} not set: the Lambda cannot tell who is calling")
        return AccessConfig(self.staff_issuer, self.customer_issuer, self.app_clients)

    def require_stream(self) -> str:
        """The stream name, or ConfigError saying which variable to set."""
        if not self.stream_name:
            raise ConfigError(f"{ENV_STREAM_NAME} is not set: the ingest Lambda does not know its Kinesis stream")
        return self.stream_name
