"""What `ecomflow ... --help` says: every option with its default, the Glue job arguments included.

`ecomflow batch` and `ecomflow stream` take the Glue jobs' own `--name value` arguments, which Glue's
`getResolvedOptions` parses (so the CLI and Glue cannot disagree on them); argparse never sees them.
Their help is therefore written here, one entry per name of `config.BATCH_ARGS` / `config.STREAM_ARGS`
(a test checks that none is missing), and shown as a section of the command's `--help`.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from ecomflow import config


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """argparse's help with `(default: X)` after every option that has a default worth saying.

    Unlike `argparse.ArgumentDefaultsHelpFormatter` it does not print `(default: None)` for an
    option without one, nor `(default: False)` for a flag.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or default in (None, False, argparse.SUPPRESS)
                or not action.option_strings):
            return text
        return f"{text} (default: {default})"


@dataclass(frozen=True)
class GlueArgument:
    """One Glue job argument as `--help` shows it."""

    name: str
    metavar: str
    help: str
    default: str | None = None  # as the job reads its absence; None: required or nothing
    required: bool = False

    def line(self) -> str:
        text = self.help
        if self.required:
            text += " (required)"
        elif self.default is not None:
            text += f" (default: {self.default})"
        return text


_REDSHIFT = (
    GlueArgument("redshift_mode", "off|postgres|data-api", "where to upsert the curated rows after publishing",
                 "off"),
    GlueArgument("redshift_dsn", "URL", "postgres mode: a libpq URL of the local PostgreSQL standing in for Redshift"),
    GlueArgument("redshift_workgroup", "NAME", "data-api mode: the Redshift Serverless workgroup"),
    GlueArgument("redshift_cluster_id", "ID", "data-api mode: a provisioned cluster instead of a workgroup"),
    GlueArgument("redshift_database", "DB", "data-api mode: the Redshift database", "dev"),
    GlueArgument("redshift_secret_arn", "ARN", "data-api mode with a cluster: the admin secret"),
    GlueArgument("redshift_db_user", "USER", "data-api mode with a cluster: the database user, instead of a secret"),
    GlueArgument("redshift_iam_role", "ARN", "data-api mode: the role Redshift's COPY assumes to read the lake"),
)
_CLEANING = (
    GlueArgument("date_format", "PATTERN", "Spark date pattern of InvoiceDate", config.DEFAULT_DATE_FORMAT),
    GlueArgument("service_codes", "A,B,...", "stock codes that are services, not products",
                 ",".join(config.DEFAULT_SERVICE_CODES)),
)

BATCH_HELP: tuple[GlueArgument, ...] = (
    GlueArgument("input", "PATH_OR_URI", "raw CSV file or folder (gzip/bzip2 fine), local or s3://", required=True),
    GlueArgument("lake", "DIR_OR_URI", "the lake: curated/, quarantine/, _runs/ and _reports/ below it",
                 required=True),
    GlueArgument("report", "FILE", "also write the run report (JSON) to this file; it is always kept in the "
                 "lake as <lake>/_reports/<run_id>/report.json"),
    GlueArgument("encoding", "ISO-8859-1|UTF-8", "the input's charset (a UTF-8 BOM is accepted)",
                 config.DEFAULT_ENCODING),
    *_CLEANING,
    GlueArgument("input_format", "csv|stream-archive", "raw CSV, or the stream's raw archive (Firehose's objects "
                 "under raw/stream/, read as the streaming job reads each record)", config.INPUT_FORMATS[0]),
    GlueArgument("incremental", "on|off", "read only the input files the lake's ledger has not seen with the same "
                 "content (<lake>/_ledger/inputs; the Glue job runs with on)", "off"),
    GlueArgument("quality_gate", "on|off", "audit the staged run with great-expectations before publishing", "on"),
    GlueArgument("max_quarantine_share", "SHARE", "the gate refuses a run that quarantines more of its distinct "
                 "lines", str(config.DEFAULT_MAX_QUARANTINE_SHARE)),
    GlueArgument("min_invoice_date", "DAY|now-Nd", "the gate refuses curated invoice times before this",
                 config.DEFAULT_MIN_INVOICE_DATE),
    GlueArgument("max_invoice_date", "DAY|now+Nd", "the gate refuses curated invoice times after this",
                 config.DEFAULT_MAX_INVOICE_DATE),
    GlueArgument("catalog_database", "NAME", "register the tables and partitions in this Glue database "
                 "(without it: not registered)"),
    GlueArgument("topic_arn", "ARN", "SNS topic for 'storage updated' and 'job failed' (without it: no messages)"),
    *_REDSHIFT,
    GlueArgument("JOB_NAME", "NAME", "the job's name (Glue sets it)", "ecomflow-batch-etl"),
)

STREAM_HELP: tuple[GlueArgument, ...] = (
    GlueArgument("stream_name", "NAME", "the Kinesis stream to read", required=True),
    GlueArgument("lake", "DIR_OR_URI", "the lake the micro-batches append to", required=True),
    GlueArgument("checkpoint_location", "DIR_OR_URI", "where the stream's checkpoint is kept", required=True),
    GlueArgument("catalog_database", "NAME", "the catalog database of the lake's Iceberg tables",
                 "ecomflow"),
    GlueArgument("stream_arn", "ARN", "the stream's ARN (Glue's Kinesis source; names the region too)"),
    GlueArgument("region", "REGION", "the stream's region", "the stream ARN's, else the environment's"),
    GlueArgument("window_size", "SECONDS", "micro-batch window", str(config.DEFAULT_WINDOW_SECONDS)),
    GlueArgument("starting_position", "TRIM_HORIZON|LATEST", "where a new checkpoint starts", "TRIM_HORIZON"),
    GlueArgument("invoice_table", "TABLE", "DynamoDB table of invoice lines", config.DEFAULT_INVOICE_TABLE),
    GlueArgument("customer_table", "TABLE", "DynamoDB table of customer summaries", config.DEFAULT_CUSTOMER_TABLE),
    GlueArgument("max_records_per_shard", "N", "local poller: GetRecords limit per shard and poll (at most 10000)",
                 str(config.DEFAULT_MAX_RECORDS_PER_SHARD)),
    *_CLEANING,
    GlueArgument("topic_arn", "ARN", "SNS topic for lines a store refused (without it: the log only)"),
    *_REDSHIFT,
    GlueArgument("until_idle", "on|off", "local poller: stop once the stream is drained (as --until-idle)", "off"),
    GlueArgument("max_batches", "N", "local poller: stop after this many micro-batches (as --max-batches; "
                 "without it: until stopped or idle)"),
    GlueArgument("JOB_NAME", "NAME", "the job's name (Glue sets it)", "ecomflow-stream-etl"),
)

EPILOG_HEAD = "Glue job arguments (--name value or --name=value, as the Glue job takes them):"
GLUE_HELP = {"batch": BATCH_HELP, "stream": STREAM_HELP}
GLUE_NAMES = {"batch": config.BATCH_ARGS, "stream": config.STREAM_ARGS}


def glue_arguments_epilog(arguments: Sequence[GlueArgument], width: int = 100) -> str:
    """The `--help` section of a job's Glue arguments, laid out as argparse lays out options."""
    lines = [EPILOG_HEAD]
    indent = 26
    for argument in arguments:
        head = f"  --{argument.name} {argument.metavar}"
        body = textwrap.wrap(argument.line(), width=width - indent) or [""]
        if len(head) + 2 <= indent:
            lines.append(head.ljust(indent) + body[0])
        else:
            lines += [head, " " * indent + body[0]]
        lines += [" " * indent + rest for rest in body[1:]]
    return "\n".join(lines)


class GlueHelpFormatter(DefaultsHelpFormatter):
    """Keeps the epilog (the Glue arguments' table) as it is written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if not text.startswith(EPILOG_HEAD):
            return super()._fill_text(text, width, indent)
        return "".join(indent + line for line in text.splitlines(keepends=True))


def add_parser(commands: argparse._SubParsersAction, name: str, **kwargs: object) -> argparse.ArgumentParser:
    """A subcommand whose `--help` shows defaults (and, for a Glue job's command, the job's arguments)."""
    if name in GLUE_HELP:
        kwargs.setdefault("epilog", glue_arguments_epilog(GLUE_HELP[name]))
        kwargs.setdefault("formatter_class", GlueHelpFormatter)
        # A prefix of a CLI option (`--progres`) must not pass for it: what argparse does not know goes to Glue's
        # argument check, which names the closest option.
        kwargs.setdefault("allow_abbrev", False)
    kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
    kwargs.setdefault("description", kwargs.get("help"))
    return commands.add_parser(name, **kwargs)  # type: ignore[arg-type]
