"""The entries of the Glue job scripts (`jobs/*.py`), which `ecomflow batch` and `ecomflow stream` call too.

Each takes the job's own `--name value` arguments, builds the runtime (Glue's or a launcher's
session, else a local one: `ecomflow.runtime`) and runs a pipeline. Their results are logged
(CloudWatch in Glue); the CLI decides what else to print.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ecomflow import plugins
from ecomflow.spark.report import RunReport

log = logging.getLogger("ecomflow")

EXIT_GATE_FAILED = 3  # the quality gate stopped the run; nothing was published
NOISY_LOGGERS = ("py4j", "botocore", "urllib3", "great_expectations")


def setup_logging(level: str = "INFO") -> None:
    """`ecomflow`'s log records to stderr (Glue sends a job's stderr to CloudWatch), libraries at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("ecomflow").setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_batch_entry(argv: Sequence[str], raise_reported: bool = False) -> tuple[int, RunReport | None]:
    """Run the batch job with Glue-style arguments (`argv[0]` is the program name).

    Returns (0, the report), or (EXIT_GATE_FAILED, the audited report or None) when the quality gate
    stopped publishing (the "job failed" SNS message has then been sent); other errors are raised. Local paths are
    checked before Spark starts (`ecomflow.app.preflight`); a job that fails them never ran, so no
    "job failed" message is sent for it.

    With `raise_reported` (a Glue run) a failure whose "job failed" message went out, a failed gate
    included, is raised as `FailureReported`, whose text carries `notify.REPORTED_MARK`: Glue puts
    it in the run's error message, and the job-failure EventBridge rule then does not alert again.
    """
    from ecomflow.app.batch_job import run_batch_job
    from ecomflow.app.preflight import check_batch_paths
    from ecomflow.config import parse_batch_config
    from ecomflow.errors import FailureReported, QualityGateError
    from ecomflow.pipelines.batch import new_run_id
    from ecomflow.stores import notify

    config = parse_batch_config(argv)
    check_batch_paths(config)  # before Spark starts: a missing input or a read-only lake fails in a second
    run_id = new_run_id()
    try:
        report = run_batch_job(config, run_id)
    except QualityGateError as exc:
        branch = getattr(exc.report, "audit_branch", None)
        kept = f"its rows wait on the audit branch {branch}" if branch else "nothing was staged"
        log.error("run %s not published (%s): %s", run_id, kept, exc)
        if raise_reported and notify.was_reported(exc):
            raise FailureReported(f"quality gate failed, nothing published: {exc} ({notify.REPORTED_MARK})") from exc
        return EXIT_GATE_FAILED, exc.report if isinstance(exc.report, RunReport) else None
    except Exception as exc:
        if raise_reported and notify.was_reported(exc):
            raise FailureReported(f"{type(exc).__name__}: {exc} ({notify.REPORTED_MARK})") from exc
        raise
    log.info("run %s published: %s", run_id, report.to_json())
    return 0, report


def batch_job_main(argv: Sequence[str]) -> int:
    """`jobs/batch_etl.py`: the batch job, its report logged; the exit code."""
    from ecomflow.runtime import stop_job_session

    setup_logging()
    try:
        # Glue passes --JOB_NAME to every run (and spark-submit does not): a Glue run raises what it
        # already reported, so that the job-failure rule can tell (run_batch_entry).
        return run_batch_entry(argv, raise_reported="--JOB_NAME" in argv)[0]
    finally:
        stop_job_session()


def run_stream_entry(argv: Sequence[str], until_idle: bool = False, max_batches: int | None = None,
                     create: bool = False) -> dict[str, int] | None:
    """Run the streaming job with Glue-style arguments (`argv[0]` is the program name).

    In Glue it runs `forEachBatch` until the job is stopped (returns None). Elsewhere the local
    shard poller stands in for Glue's Kinesis source (against the local stack when one runs and no
    endpoint is set) and returns the totals of the micro-batches it ran. `until_idle`,
    `max_batches` and `create` (make the stream and tables) are the local poller's.
    """
    from dataclasses import replace

    from ecomflow.app.preflight import check_stream_paths
    from ecomflow.app.stream_job import run_glue_stream
    from ecomflow.config import parse_stream_config
    from ecomflow.runtime import build_runtime

    config = parse_stream_config(argv)
    check_stream_paths(config)
    config = replace(config, until_idle=config.until_idle or until_idle,
                     max_batches=max_batches if max_batches is not None else config.max_batches)
    runtime = build_runtime(config.job_name)
    if runtime.is_glue:
        run_glue_stream(runtime, config)
        return None
    # Outside Glue the shard poller stands in for Glue's Kinesis source (ecomflow.local.stream_runner).
    run_local_stream = plugins.load(plugins.STREAM_SOURCES, "shard-poller")
    totals = run_local_stream(runtime, config, create=create)
    log.info("stream job ended: %s", totals)
    return totals


def stream_job_main(argv: Sequence[str]) -> int:
    """`jobs/stream_etl.py`: the streaming job; its totals logged."""
    from ecomflow.runtime import stop_job_session

    setup_logging()
    try:
        run_stream_entry(argv)
    finally:
        stop_job_session()
    return 0
