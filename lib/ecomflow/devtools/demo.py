"""`ecomflow demo`: the whole pipeline on the embedded local stack, end to end, with a reconciliation.

local stack up -> raw file (generated, or `--input`) -> batch job (gate, publish, Glue Catalog,
Redshift, SNS) -> the named Athena queries on DuckDB -> a slice of the file through the API and
the streaming path -> GET of a streamed invoice -> lake, Redshift and run report reconciled.
Running it again changes no count: every step is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ecomflow.analytics.explore import DEMO_LAKE, DEMO_REPORT_NAME

log = logging.getLogger(__name__)

DEMO_DIR = DEMO_LAKE.parent
TOPIC_NAME = "ecomflow-notifications"
DATABASE = "ecomflow"
QUERY_ROWS = 8


@dataclass(frozen=True)
class DemoOptions:
    input: str | None = None
    rows: int = 50_000
    seed: int = 7
    stream_rows: int = 500


@dataclass(frozen=True)
class Tally:
    """Rows and revenue as one store sees them."""

    store: str
    rows: int
    revenue: Decimal


def demo_input(options: DemoOptions, console: Console) -> Path:
    """The raw file of the demo: `--input`, or a generated one (kept, so reruns read the same bytes)."""
    if options.input:
        return Path(options.input).resolve()
    from ecomflow.devtools.generate import generate_file

    path = DEMO_DIR / "raw" / f"online_retail_{options.rows}_{options.seed}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_file(str(path), rows=options.rows, seed=options.seed)
        console.print(f"generated {options.rows:,} rows -> {path}")
    return path


def batch_arguments(input_path: Path, topic_arn: str, dsn: str) -> list[str]:
    """The batch job's Glue arguments for the local stack."""
    return ["ecomflow demo", "--input", str(input_path), "--lake", str(DEMO_LAKE),
            "--report", str(DEMO_DIR / DEMO_REPORT_NAME), "--catalog_database", DATABASE,
            "--redshift_mode", "postgres", "--redshift_dsn", dsn, "--topic_arn", topic_arn]


def _one_row(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The one row an aggregate without GROUP BY returns."""
    assert row is not None, "an aggregate query returned no row"
    return row


def lake_tally() -> Tally:
    from ecomflow.analytics.explore import open_lake

    rows, revenue = _one_row(open_lake(DEMO_LAKE).connection.execute(
        "select count(*), coalesce(sum(revenue), 0) from sales").fetchone())
    return Tally("lake (Iceberg sales, main snapshot)", int(rows), Decimal(revenue))


def redshift_tally(dsn: str) -> Tally:
    import psycopg

    with psycopg.connect(dsn) as connection:
        rows, revenue = _one_row(connection.execute("select count(*), coalesce(sum(revenue), 0) from sales").fetchone())
    return Tally("Redshift sales (PostgreSQL)", int(rows), Decimal(revenue))


def reconciliation_table(tallies: list[Tally]) -> Table:
    table = Table(title="Reconciliation")
    table.add_column("store")
    table.add_column("rows", justify="right")
    table.add_column("revenue", justify="right")
    for tally in tallies:
        table.add_row(tally.store, f"{tally.rows:,}", f"{tally.revenue:,.3f}")
    return table


def query_table(name: str, columns: list[str], rows: list[tuple]) -> Table:
    table = Table(title=f"ecomflow query {name}")
    for column in columns:
        table.add_column(column)
    for row in rows[:QUERY_ROWS]:
        table.add_row(*("" if v is None else str(v) for v in row))
    if len(rows) > QUERY_ROWS:
        table.caption = f"{QUERY_ROWS} of {len(rows)} rows"
    return table


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; returns 0 when every store agrees, 1 when the reconciliation does not."""
    from ecomflow import aws
    from ecomflow.app.batch_job import run_batch_job
    from ecomflow.config import RedshiftSettings, parse_batch_config
    from ecomflow.devtools.stream_demo import run_stream_demo
    from ecomflow.local import localstack
    from ecomflow.local.athena_local import LocalAthena, named_queries
    from ecomflow.local.spark import local_session

    console = console or Console()
    with console.status("starting the local stack (moto server, PostgreSQL 15)"):
        endpoints = localstack.up()
        localstack.apply_environment(endpoints)
        topic_arn = aws.client("sns").create_topic(Name=TOPIC_NAME)["TopicArn"]
    console.print(f"local stack: AWS APIs at {endpoints.endpoint_url}, Redshift stand-in at "
                  f"{endpoints.postgres.host}:{endpoints.postgres.port}")

    input_path = demo_input(options, console)
    config = parse_batch_config(batch_arguments(input_path, topic_arn, endpoints.postgres.dsn))
    with console.status(f"batch job on {input_path.name}: stage, quality gate, publish, catalog, Redshift, SNS"):
        report = run_batch_job(config)
    console.print_json(report.to_json())
    from ecomflow.analytics.run_page import write_run_page

    console.print(f"the run's page (report, quality checks, charts): {write_run_page(DEMO_LAKE, report.run_id)}")

    athena = LocalAthena.from_catalog(aws.client("glue"), DATABASE)
    for name in named_queries():
        result = athena.query(name)
        console.print(query_table(name, result.columns, result.rows))

    dsn = endpoints.postgres.dsn
    stream_rows = min(options.stream_rows, report.rows_read)
    if stream_rows > 0:
        with console.status(f"streaming {stream_rows} lines: API -> Kinesis -> stream job -> lake, DynamoDB, Redshift"):
            streamed = run_stream_demo(local_session(), input_path, str(DEMO_LAKE), DEMO_DIR / "stream-checkpoint",
                                       rows=stream_rows, redshift=RedshiftSettings(mode="postgres", dsn=dsn),
                                       progress=False)
        got = streamed["get_invoice"]
        console.print(f"streamed {streamed['replay'].get('accepted', stream_rows)} lines in "
                      f"{len(streamed['batches'])} micro-batches; GET /invoices/{got['invoice_no']} -> "
                      f"HTTP {got['status']}, {got['lines']} lines")
        if got["first_line"]:
            console.print_json(data=got["first_line"])

    tallies = [lake_tally(), redshift_tally(dsn),
               Tally("run report (rows_curated)", report.rows_curated, Decimal(report.revenue_curated))]
    console.print(reconciliation_table(tallies))
    agree = len({(t.rows, t.revenue) for t in tallies}) == 1
    if agree:
        console.print("[green]lake, Redshift and the run report agree[/green]; "
                      "run `make demo` again: no count changes.")
    else:
        console.print("[red]the stores disagree[/red] (a lake holding other inputs too will: "
                      f"remove {DEMO_DIR} to start afresh)")
    return 0 if agree else 1
