"""The `ecomflow` command line: thin wrappers that parse arguments and call `lib` pipelines."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from ecomflow.entry import EXIT_GATE_FAILED, run_batch_entry, setup_logging
from ecomflow.errors import EcomflowError

log = logging.getLogger("ecomflow")

# Commands that take the Glue job's own `--name value` arguments, parsed by getResolvedOptions.
GLUE_STYLE_COMMANDS = {"batch", "stream"}


def batch_main(argv: Sequence[str]) -> int:
    """`ecomflow batch`: the batch job (`entry.run_batch_entry`); prints the published run's report."""
    code, report = run_batch_entry(argv)
    if report is not None:
        print(report.to_json())
    return code


def generate_main(args: argparse.Namespace) -> int:
    from ecomflow.generate import generate_file

    stats = generate_file(args.out, rows=args.rows, seed=args.seed, malformed_rate=args.malformed_rate)
    print(stats.to_json())
    return 0


def local_main(args: argparse.Namespace) -> int:
    """Start, stop or describe the local stack (moto server + PostgreSQL); `up`/`status` print JSON."""
    import json

    from ecomflow import localstack

    settings = localstack.StackSettings.from_env(
        state_dir=args.state_dir, moto_port=args.moto_port, pg_port=args.pg_port, timeout=args.timeout)
    if args.action == "up":
        print(localstack.up(settings).to_json())
    elif args.action == "down":
        stopped = localstack.down(settings)
        log.info("local stack %s (%s)", "stopped" if stopped else "was not running", settings.state_dir)
    else:
        print(json.dumps(localstack.status(settings), indent=2))
    return 0


def _local_athena(database: str):  # noqa: ANN202 - ecomflow.athena_local.LocalAthena
    """DuckDB over the Glue catalog's tables; the catalog is the local stack's moto unless boto3 is configured."""
    import os

    from ecomflow import aws, localstack
    from ecomflow.athena_local import LocalAthena

    if not os.environ.get("AWS_ENDPOINT_URL"):
        endpoints = localstack.read_endpoints(localstack.StackSettings.from_env().state_dir)
        if endpoints is not None:
            localstack.apply_environment(endpoints)
    return LocalAthena.from_catalog(aws.client("glue"), database)


def print_result(result, as_json: bool) -> None:  # noqa: ANN001 - ecomflow.athena_local.QueryResult
    """Print a query result as a rich table, or as JSON records (`--json`)."""
    import json
    from decimal import Decimal

    if as_json:
        print(json.dumps(result.records(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    first = result.rows[0] if result.rows else ()
    table = Table()
    for index, name in enumerate(result.columns):
        numeric = bool(first) and isinstance(first[index], (int, float, Decimal))
        table.add_column(name, justify="right" if numeric else "left")
    for row in result.rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console().print(table)


def sql_main(args: argparse.Namespace) -> int:
    """Run Athena SQL locally on DuckDB over the catalog's tables."""
    print_result(_local_athena(args.database).sql(args.sql), args.json)
    return 0


def query_main(args: argparse.Namespace) -> int:
    """Run a named Athena query (`sql/athena/NAME.sql`) locally, or list the names."""
    from ecomflow.athena_local import load_query, named_queries

    if args.name is None:
        print("\n".join(named_queries()))
        return 0
    load_query(args.name)  # an unknown name fails before the catalog is asked
    print_result(_local_athena(args.database).query(args.name), args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecomflow", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "batch", help="run the batch ETL job; takes the Glue job's arguments: --input PATH_OR_URI "
        "--lake DIR_OR_URI [--report FILE] [--encoding ISO-8859-1|UTF-8] [--date_format FMT] [--service_codes A,B] "
        "[--topic_arn ARN] [--quality_gate on|off]; exit code 3 when the quality gate fails")

    generate = commands.add_parser("generate", help="write a synthetic raw file with the real file's dirt")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", required=True)
    generate.add_argument("--malformed-rate", type=float, default=0.0005,
                          help="share of malformed lines (and 17850.0-style customer ids), default 0.0005")

    local = commands.add_parser("local", help="start/stop the local stand-ins for AWS (moto server, PostgreSQL 15)")
    local.add_argument("action", choices=("up", "down", "status"))
    local.add_argument("--state-dir", help="state folder (default $ECOMFLOW_STATE_DIR or <repo>/.state/local)")
    local.add_argument("--moto-port", type=int, help="moto server port (default 5055; 0 = a free port)")
    local.add_argument("--pg-port", type=int, help="PostgreSQL port (default 5439; 0 = a free port)")
    local.add_argument("--timeout", type=float, help="seconds to wait for each service to answer (default 60)")

    sql = commands.add_parser("sql", help="run Athena SQL locally (DuckDB over the Glue catalog's tables)")
    sql.add_argument("sql", help='Athena (Trino) SQL, e.g. "SELECT COUNT(*) FROM ecomflow.sales"')
    query = commands.add_parser("query", help="run a named Athena query locally (no NAME: list them)")
    query.add_argument("name", nargs="?", help="monthly_revenue, top_products, cancellation_rate, ...")
    for command in (sql, query):
        command.add_argument("--database", default="ecomflow", help="Glue database (default ecomflow)")
        command.add_argument("--json", action="store_true", help="print JSON records instead of a table")

    demo = commands.add_parser("demo", help="the whole pipeline on the local stack, with a reconciliation")
    demo.add_argument("--input", help="raw CSV (default: a generated file with the real file's dirt)")
    demo.add_argument("--rows", type=int, default=50_000, help="rows of the generated file (default 50,000)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--stream-rows", type=int, default=500, help="lines sent through the streaming path")

    archive = commands.add_parser("jvm-archive", help="build the local Spark driver's class archive (a faster "
                                  "JVM start; `make setup` runs it; ECOMFLOW_JVM_ARCHIVE=off disables it)")
    archive.add_argument("--force", action="store_true", help="rebuild it even if it exists")

    from ecomflow.cli_stream import add_commands as add_stream_commands

    add_stream_commands(commands)  # stream, api, replay
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, glue_args = parser.parse_known_args(argv)
    if glue_args and args.command not in GLUE_STYLE_COMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(glue_args)}")
    setup_logging(args.log_level)
    try:
        if args.command == "batch":
            return batch_main([f"ecomflow {args.command}", *glue_args])
        if args.command == "demo":
            from ecomflow.demo import DemoOptions, run_demo

            return run_demo(DemoOptions(input=args.input, rows=args.rows, seed=args.seed,
                                        stream_rows=args.stream_rows))
        if args.command == "generate":
            return generate_main(args)
        if args.command == "sql":
            return sql_main(args)
        if args.command == "query":
            return query_main(args)
        if args.command == "local":
            return local_main(args)
        if args.command == "jvm-archive":
            from ecomflow.jvm_archive import main as jvm_archive_main

            return jvm_archive_main(["--force"] if args.force else [])
        from ecomflow.cli_stream import run_command as run_stream_command

        handled = run_stream_command(args, glue_args)
        if handled is not None:
            return handled
    except EcomflowError as exc:
        log.error("%s", exc)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
