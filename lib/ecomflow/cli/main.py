"""The `ecomflow` command line: thin wrappers that parse arguments and call `lib` pipelines."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ecomflow.cli.console import default_log_level, setup_cli_logging
from ecomflow.cli.options import GLUE_NAMES, DefaultsHelpFormatter, add_parser
from ecomflow.config import check_argument_names
from ecomflow.errors import EcomflowError

log = logging.getLogger("ecomflow")

EXIT_USAGE = 2  # bad arguments, input or output: one line on stderr says what
# Commands that take the Glue job's own `--name value` arguments (parsed by getResolvedOptions),
# with the names the CLI accepts for each.
GLUE_STYLE_COMMANDS = GLUE_NAMES
# Java exceptions (or their superclasses) that name a predictable cause: a path, a permission, a file
# system or a host. Met anywhere in an error's cause chain, the CLI reports them in one line.
PREDICTABLE_JVM_ERRORS = frozenset({
    "java.io.FileNotFoundException",
    "java.nio.file.FileSystemException",  # AccessDeniedException, ReadOnly..., NoSuchFile...
    "java.net.UnknownHostException",
    "org.apache.hadoop.fs.FileAlreadyExistsException",
    "org.apache.hadoop.fs.ParentNotDirectoryException",
    "org.apache.hadoop.fs.PathIOException",  # PathNotFound, PathPermission, PathIsNotDirectory, ...
    "org.apache.hadoop.fs.UnsupportedFileSystemException",
    "org.apache.hadoop.security.AccessControlException",
    "com.amazonaws.services.s3.model.AmazonS3Exception",  # EMRFS (Glue): Access Denied, NoSuchBucket
    "software.amazon.awssdk.services.s3.model.S3Exception",
})
PREDICTABLE_SPARK_ERROR_CLASSES = frozenset({"PATH_NOT_FOUND"})


def generate_main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ecomflow.devtools.generate import generate_file

    Path(args.out).expanduser().parent.mkdir(parents=True, exist_ok=True)
    stats = generate_file(args.out, rows=args.rows, seed=args.seed, malformed_rate=args.malformed_rate)
    print(stats.to_json())
    return 0


def local_main(args: argparse.Namespace) -> int:
    """Start, stop or describe the local stack (moto server + PostgreSQL); `up`/`status` print JSON."""
    import json

    from ecomflow.local import localstack
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


def _catalog_athena(database: str):  # noqa: ANN202 - (ecomflow.local.athena_local.LocalAthena, str)
    """DuckDB over the Glue catalog's tables (the local stack's moto unless boto3 is configured), and which."""
    import os

    from ecomflow import aws
    from ecomflow.local import localstack
    from ecomflow.local.athena_local import LocalAthena

    if not os.environ.get("AWS_ENDPOINT_URL"):
        endpoints = localstack.read_endpoints(localstack.StackSettings.from_env().state_dir)
        if endpoints is not None:
            localstack.apply_environment(endpoints)
    from botocore.exceptions import BotoCoreError

    from ecomflow.errors import InputError

    try:
        glue = aws.client("glue")
        athena = LocalAthena.from_catalog(glue, database)
        locations = []
        for name in sorted(athena.tables):
            location = glue.get_table(DatabaseName=database, Name=name)["Table"]["StorageDescriptor"]["Location"]
            locations.append(f"{name} at {location.removeprefix('file://')}")
    except BotoCoreError as exc:  # no region, no credentials, no endpoint answering
        raise InputError(f"cannot read the Glue catalog ({exc}): start the local stack (`ecomflow local up`) or "
                         f"configure AWS, or read a lake directly with --lake DIR") from None
    where = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    tables = "; ".join(locations) or "no tables"
    return athena, (f"Glue database {database} ({where}): {tables}; `--lake DIR` reads another lake")


def _athena_for(args: argparse.Namespace):  # noqa: ANN202 - ecomflow.local.athena_local.LocalAthena
    """The lake `sql`/`query` read: `--lake` directly, else the catalog's `--database`; says which on stderr."""
    if args.lake is not None:
        from ecomflow.analytics.explore import describe_lake, lake_athena

        athena, source = lake_athena(args.lake), describe_lake(args.lake)
    else:
        athena, source = _catalog_athena(args.database or "ecomflow")
    print(f"Reading {source}", file=sys.stderr, flush=True)
    return athena


def print_result(result, as_json: bool, width: int | None = None) -> None:  # noqa: ANN001 - athena_local.QueryResult
    """Print a query result as a rich table, or as JSON records (`--json`).

    No column name or value is cut: on a terminal a column too wide for it folds onto more lines;
    piped or redirected, the table is as wide as its content.
    """
    import json
    from decimal import Decimal

    if as_json:
        print(json.dumps(result.records(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=width) if width is not None else Console()
    if not result.rows:
        print(f"(no rows; columns: {', '.join(result.columns)})")
        return
    first = result.rows[0]
    cells = [["" if v is None else str(v) for v in row] for row in result.rows]
    table = Table()
    for index, name in enumerate(result.columns):
        numeric = isinstance(first[index], (int, float, Decimal))
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in cells:
        table.add_row(*row)
    if width is None and not console.is_terminal:
        # Piped: as wide as the content (rich would assume 80 columns and cut the names).
        widest = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)]
        console = Console(width=sum(widest) + 3 * len(widest) + 1)
    console.print(table)


def sql_main(args: argparse.Namespace) -> int:
    """Run Athena SQL locally on DuckDB over a lake's or the catalog's tables."""
    print_result(_athena_for(args).sql(args.sql), args.json)
    return 0


def query_main(args: argparse.Namespace) -> int:
    """Run a named Athena query (`sql/athena/NAME.sql`) locally, or list the names."""
    from ecomflow.local.athena_local import load_query, named_queries

    if args.name is None:
        print("\n".join(named_queries()))
        return 0
    load_query(args.name)  # an unknown name fails before the catalog is asked
    print_result(_athena_for(args).query(args.name), args.json)
    return 0


def one_line(text: str) -> str:
    """`text` on one line (a JVM message may span several)."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _jvm_error_types() -> tuple[type[BaseException], ...]:
    """Py4J's and PySpark's exception types, once pyspark is loaded (before that none can occur)."""
    if "pyspark" not in sys.modules:
        return ()
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (Py4JJavaError, PySparkException)


def _java_class_names(throwable) -> list[str]:  # noqa: ANN001 - a py4j JavaObject (java.lang.Throwable)
    names = []
    cls = throwable.getClass()
    while cls is not None:
        names.append(cls.getName())
        cls = cls.getSuperclass()
    return names


def predictable_spark_error(exc: BaseException) -> str | None:
    """One line for a Spark or Py4J error with a predictable cause (`PREDICTABLE_JVM_ERRORS`), else None.

    The line names the first such Java exception in the cause chain and its message, so a missing
    bucket or a denied write reads as that, not as a JVM stack trace.
    """
    from py4j.protocol import Py4JError

    error_class = getattr(exc, "getErrorClass", lambda: None)()
    if error_class in PREDICTABLE_SPARK_ERROR_CLASSES:
        return one_line(str(exc))
    throwable = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    try:
        for _ in range(20):  # a cause chain is short; a cycle is not followed forever
            if throwable is None:
                return None
            names = _java_class_names(throwable)
            message = throwable.getMessage() or ""
            if PREDICTABLE_JVM_ERRORS.intersection(names) or (
                    names[0] == "java.io.IOException" and message.startswith("Mkdirs failed")):
                return one_line(f"{names[0].rsplit('.', 1)[-1]}: {message}")
            throwable = throwable.getCause()
    except Py4JError:  # the JVM is gone: nothing more to learn from it
        return None
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecomflow", description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--log-level", default=None,
                        help="DEBUG, INFO, WARNING or ERROR (default: WARNING for batch and stream, which end with "
                        "a summary; INFO for the others)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from ecomflow.cli.batch import add_output_options

    batch = add_parser(
        commands, "batch", help="run the batch ETL job on a raw CSV file: stage, quality gate, publish; exit code 3 "
        "when the quality gate stopped the run, 2 for bad arguments, input or lake",
        usage="ecomflow batch --input PATH_OR_URI --lake DIR_OR_URI [--name value ...] [--json] [--progress MODE]")
    add_output_options(batch)
    from ecomflow.cli.batch import add_page_option

    add_page_option(batch)
    # Also after the command (`ecomflow batch ... --log-level DEBUG`), where it would otherwise be an unknown option.
    batch.add_argument("--log-level", default=argparse.SUPPRESS, help="as `ecomflow --log-level`")

    generate = add_parser(commands, "generate", help="write a synthetic raw file with the real file's dirt")
    generate.add_argument("--rows", type=int, required=True, help="data lines to write (required)")
    generate.add_argument("--seed", type=int, default=42, help="random seed: the same seed, the same file")
    generate.add_argument("--out", required=True, help="the file to write (required)")
    generate.add_argument("--malformed-rate", type=float, default=0.0005,
                          help="share of malformed lines (and 17850.0-style customer ids)")

    local = add_parser(commands, "local", help="start/stop the local stand-ins for AWS (moto server, PostgreSQL 15)")
    local.add_argument("action", choices=("up", "down", "status"), help="up, down or status")
    local.add_argument("--state-dir", help="state folder (default: $ECOMFLOW_STATE_DIR or <repo>/.state/local)")
    local.add_argument("--moto-port", type=int, help="moto server port (default: 5055; 0 = a free port)")
    local.add_argument("--pg-port", type=int, help="PostgreSQL port (default: 5439; 0 = a free port)")
    local.add_argument("--timeout", type=float, help="seconds to wait for each service to answer (default: 60)")

    sql = add_parser(commands, "sql", help="run Athena SQL locally (DuckDB over a lake or the Glue catalog's tables)")
    sql.add_argument("sql", help='Athena (Trino) SQL, e.g. "SELECT COUNT(*) FROM ecomflow.sales"')
    query = add_parser(commands, "query", help="run a named Athena query locally (no NAME: list them)")
    query.add_argument("name", nargs="?", help="monthly_revenue, top_products, cancellation_rate, ...")
    for command in (sql, query):
        add_lake_options(command)
        command.add_argument("--json", action="store_true", help="print JSON records instead of a table")

    report = add_parser(commands, "report", help="write a run's page (report, quality checks, charts) as static HTML "
                        "beside it: <lake>/_reports/<run_id>/index.html; prints its path")
    report.add_argument("--lake", required=True, help="the lake folder, or s3://bucket/prefix (required)")
    report.add_argument("--run", help="the run id (default: the lake's latest run)")
    report.add_argument("--out", help="write the page here instead (default: beside the run in the lake)")

    demo = add_parser(commands, "demo", help="the whole pipeline on the local stack, with a reconciliation")
    demo.add_argument("--input", help="raw CSV (default: a generated file with the real file's dirt)")
    demo.add_argument("--rows", type=int, default=50_000, help="rows of the generated file")
    demo.add_argument("--seed", type=int, default=7, help="seed of the generated file")
    demo.add_argument("--stream-rows", type=int, default=500, help="lines sent through the streaming path")

    archive = add_parser(commands, "jvm-archive", help="build the local Spark driver's class archive (a faster "
                         "JVM start; `make setup` runs it; ECOMFLOW_JVM_ARCHIVE=off disables it)")
    archive.add_argument("--force", action="store_true", help="rebuild it even if it exists")

    from ecomflow.cli.stream import add_commands as add_stream_commands

    add_stream_commands(commands)  # stream, api, replay
    add_output_options(commands.choices["stream"])
    from ecomflow.cli.users import add_commands as add_user_commands

    add_user_commands(commands)  # users, token
    from ecomflow.cli.warehouse import add_commands as add_warehouse_commands

    add_warehouse_commands(commands)  # warehouse setup
    from ecomflow.cli.archive import add_commands as add_archive_commands

    add_archive_commands(commands)  # archive (the local Firehose)
    from ecomflow.cli.lake import add_commands as add_lake_commands

    add_lake_commands(commands)  # history, branches, maintain, migrate
    commands.choices["stream"].add_argument("--log-level", default=argparse.SUPPRESS,
                                            help="as `ecomflow --log-level`")
    return parser


def commands_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands' parsers by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def refuse_near_misses(glue_args: Sequence[str], glue_names: Sequence[str], command: argparse.ArgumentParser) -> None:
    """An unknown option close to one of the command's own (`--jsn`): ConfigError with that hint.

    The Glue job's names get their hints from `config.check_argument_names`; this adds the CLI's.
    """
    import difflib

    from ecomflow.errors import ConfigError

    own = [option[2:] for action in command._actions for option in action.option_strings if option.startswith("--")]
    for token in glue_args:
        name = token[2:].partition("=")[0] if token.startswith("--") else None
        if name is None or name in glue_names:
            continue
        close = difflib.get_close_matches(name, own, n=1, cutoff=0.75)
        if close and not difflib.get_close_matches(name.replace("-", "_"), list(glue_names), n=1, cutoff=0.75):
            raise ConfigError(f"unknown option --{name} (did you mean --{close[0]}?)")


def add_lake_options(command: argparse.ArgumentParser) -> None:
    """`--lake` or `--database`: which lake `sql` and `query` read."""
    where = command.add_mutually_exclusive_group()
    where.add_argument("--lake", help="read this lake folder or URI directly (its curated/ and quarantine/ "
                       "tables), without the catalog")
    where.add_argument("--database", default=None,
                       help="read the tables this Glue database names (default: ecomflow, the local stack's "
                       "catalog when it runs)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, glue_args = parser.parse_known_args(argv)
    if glue_args and args.command not in GLUE_STYLE_COMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(glue_args)}")
    try:
        setup_cli_logging(args.log_level or default_log_level(args.command))
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.command in GLUE_STYLE_COMMANDS:
            refuse_near_misses(glue_args, GLUE_STYLE_COMMANDS[args.command], commands_of(parser)[args.command])
            glue_args = check_argument_names(glue_args, GLUE_STYLE_COMMANDS[args.command], f"ecomflow {args.command}")
        if args.command == "batch":
            from ecomflow.cli.batch import batch_command

            return batch_command([f"ecomflow {args.command}", *glue_args], args)
        if args.command == "demo":
            from ecomflow.devtools.demo import DemoOptions, run_demo

            return run_demo(DemoOptions(input=args.input, rows=args.rows, seed=args.seed,
                                        stream_rows=args.stream_rows))
        if args.command == "generate":
            return generate_main(args)
        if args.command == "sql":
            return sql_main(args)
        if args.command == "report":
            from ecomflow.analytics.run_page import write_run_page

            print(write_run_page(args.lake, args.run, args.out))
            return 0
        if args.command == "query":
            return query_main(args)
        if args.command == "local":
            return local_main(args)
        if args.command == "jvm-archive":
            from ecomflow.local import jvm_archive
            from ecomflow.local.spark import LOCAL_SETTINGS

            jvm_archive.build(LOCAL_SETTINGS.get("spark.jars", ""), force=args.force)
            return 0
        from ecomflow.cli.stream import run_command as run_stream_command

        handled = run_stream_command(args, glue_args)
        if handled is not None:
            return handled
        from ecomflow.cli.users import run_command as run_user_command

        handled = run_user_command(args)
        if handled is not None:
            return handled
        from ecomflow.cli.warehouse import run_command as run_warehouse_command

        handled = run_warehouse_command(args)
        if handled is not None:
            return handled
        from ecomflow.cli.archive import run_command as run_archive_command

        handled = run_archive_command(args)
        if handled is not None:
            return handled
        from ecomflow.cli.lake import run_command as run_lake_command

        handled = run_lake_command(args)
        if handled is not None:
            return handled
    except BrokenPipeError:  # `ecomflow query | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except EcomflowError as exc:
        log.error("%s", one_line(str(exc)))
        if exc.__cause__ is not None:
            log.debug("caused by:", exc_info=exc.__cause__)
        return EXIT_USAGE
    except _jvm_error_types() as exc:  # evaluated only when an error got this far
        line = predictable_spark_error(exc)
        if line is None:
            raise  # not a predictable cause: the whole trace helps more than a line
        log.error("%s (--log-level DEBUG shows the JVM's error)", line)
        log.debug("the JVM's error:", exc_info=exc)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
