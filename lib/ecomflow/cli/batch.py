"""`ecomflow batch` and `ecomflow stream` for a person: progress while Spark works, a summary in words at the end.

The jobs themselves are the Glue jobs' entries (`ecomflow.app.entry`); this module only decides what
the terminal shows: a status line while they run (`ecomflow.cli.progress`, on a terminal only), then
a few sentences (`ecomflow.cli.summary`). The full JSON report is printed once, with `--json`, or
written to `--report FILE`; it is always kept in the lake (`<lake>/_reports/<run_id>/report.json`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict

from ecomflow.cli.console import say
from ecomflow.cli.progress import job_progress


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """`--json` and `--progress`, the CLI's own options of `batch` and `stream` (dashes: not Glue's)."""
    parser.add_argument("--json", action="store_true",
                        help="print the full report as JSON on stdout (the summary goes to stderr then)")
    parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                        help="the status line on stderr while Spark works; auto: only when stderr is a terminal")


def add_page_option(parser: argparse.ArgumentParser) -> None:
    """`--page`: whether `ecomflow batch` writes the run's HTML page beside it (`ecomflow report`)."""
    parser.add_argument("--page", choices=("on", "off"), default="on",
                        help="write the run's page <lake>/_reports/<run_id>/index.html (a local lake only)")


def write_page(report_doc: dict, lake_uri: str) -> str | None:
    """The run's page beside it in a local lake (`analytics.run_page`); None, with a warning, where it cannot be."""
    import logging

    from ecomflow.analytics.run_page import write_run_page
    from ecomflow.errors import EcomflowError

    if not lake_uri.startswith("file://"):
        return None
    try:
        return str(write_run_page(lake_uri[len("file://"):], str(report_doc["run_id"])))
    except (EcomflowError, OSError, ValueError) as exc:
        logging.getLogger("ecomflow").warning("run page not written: %s", exc)
        return None


def _report_places(report_uri: str | None, report_path: str | None) -> list[str]:
    places = []
    if report_uri:
        places.append(report_uri[len("file://"):] if report_uri.startswith("file://") else report_uri)
    if report_path:
        places.append(report_path)
    return places


def batch_command(argv: Sequence[str], args: argparse.Namespace) -> int:
    """Run the batch job (`entry.run_batch_entry`) with progress, then say what it did.

    Returns the job's exit code: 0 published, 3 stopped by the quality gate.
    """
    from ecomflow.app.batch_job import report_uri
    from ecomflow.app.entry import run_batch_entry
    from ecomflow.cli.summary import batch_summary
    from ecomflow.config import parse_batch_config

    started = time.monotonic()
    config = parse_batch_config(argv)  # a bad argument fails here, before the status line starts
    with job_progress(args.progress, "batch"):
        code, report = run_batch_entry(argv)
    seconds = time.monotonic() - started
    doc = asdict(report) if report is not None else None
    places = _report_places(report_uri(report.lake, report.run_id) if report is not None else None,
                            config.report_path)
    if doc is not None and getattr(args, "page", "on") == "on":
        page = write_page(doc, config.lake_uri)
        if page is not None:
            places.append(page)
    if args.json and doc is not None:
        print(json.dumps(doc, indent=2), flush=True)
    say(batch_summary(doc, seconds, published=code == 0, report_places=places, gate_enabled=config.quality_gate),
        to_stderr=args.json)
    return code


def stream_command(argv: Sequence[str], args: argparse.Namespace) -> int:
    """Run the streaming job (`entry.run_stream_entry`) with progress; the local poller's totals in words."""
    from ecomflow.app.entry import run_stream_entry
    from ecomflow.cli.summary import stream_summary
    from ecomflow.config import parse_stream_config

    started = time.monotonic()
    parse_stream_config(argv)  # a bad argument fails here, before the status line starts
    with job_progress(args.progress, "stream"):
        totals = run_stream_entry(argv, until_idle=args.until_idle, max_batches=args.max_batches,
                                  create=args.create_resources)
    if totals is None:  # Glue's forEachBatch ran until the job was stopped
        return 0
    if args.json:
        print(json.dumps(totals), flush=True)
    say(stream_summary(totals, time.monotonic() - started), to_stderr=args.json)
    return 0
