"""A status line while a job's Spark work runs: what the job is doing, Spark's stage, tasks and rows so far.

Spark says nothing for the seconds a stage takes; the line shows the elapsed time, the job's last
step (its `ecomflow` log records, read by a logging handler whatever the console shows) and the
active Spark stages from the driver's status store (the numbers the Spark UI shows, with the UI
off): tasks done of all, and rows read so far (input records, plus shuffle records read). It is
drawn with rich on stderr and only on a terminal (`--progress auto`); piped or redirected output
gets no control characters.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ecomflow.cli.console import CliHandler

POLL_SECONDS = 0.5
STEP_CHARS = 60


@dataclass(frozen=True)
class StageProgress:
    """One active Spark stage as the status store holds it."""

    stage_id: int
    tasks_done: int
    tasks: int
    rows: int  # records read so far: from the input, and from the shuffle


def active_stages(spark_context: Any) -> list[StageProgress]:
    """The active stages of `spark_context` (a pyspark SparkContext), or [] when the JVM cannot say."""
    from py4j.protocol import Py4JError

    try:
        stages = spark_context._jsc.sc().statusStore().activeStages()
        found = []
        for index in range(stages.size()):
            data = stages.apply(index)
            found.append(StageProgress(int(data.stageId()), int(data.numCompleteTasks()), int(data.numTasks()),
                                       int(data.inputRecords()) + int(data.shuffleReadRecords())))
        return sorted(found, key=lambda stage: stage.stage_id)
    except (Py4JError, AttributeError):  # the context is stopping or gone
        return []


def step_of(record: logging.LogRecord) -> str:
    """A log record's message as a short step: its first line, without a JSON tail, cut to `STEP_CHARS`."""
    text = record.getMessage().splitlines()[0] if record.getMessage() else ""
    text = text.split(": {", 1)[0].rstrip(" :{")
    return text if len(text) <= STEP_CHARS else text[:STEP_CHARS - 1] + "…"


def status_line(job: str, seconds: float, step: str | None, stages: list[StageProgress], spark_started: bool) -> str:
    """`batch 0:12 · Spark stage 3: 2/4 tasks, 250,000 rows · staged 13 partitions of …`."""
    minutes, secs = divmod(int(seconds), 60)
    parts = [f"{job} {minutes}:{secs:02d}"]
    if not spark_started:
        parts.append("starting Spark")
    elif stages:
        parts.append("; ".join(f"Spark stage {s.stage_id}: {s.tasks_done}/{s.tasks} tasks, {s.rows:,} rows"
                               for s in stages[:2]))
    else:
        parts.append("Spark idle")
    if step:
        parts.append(step)
    return " · ".join(parts)


class StepHandler(logging.Handler):
    """Keeps the last `ecomflow` INFO-or-above message as the job's current step."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.step: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.step = step_of(record)


def _spark_context() -> Any:
    from pyspark import SparkContext

    return SparkContext._active_spark_context


def progress_enabled(mode: str, is_terminal: bool) -> bool:
    """`--progress on|off|auto`: auto means only on a terminal."""
    return mode == "on" or (mode == "auto" and is_terminal)


@contextlib.contextmanager
def job_progress(mode: str, job: str) -> Iterator[None]:
    """Show the status line on stderr while the body runs (when `progress_enabled`); nothing otherwise."""
    from rich.console import Console

    console = Console(stderr=True)
    if not progress_enabled(mode, console.is_terminal):
        yield
        return
    steps = StepHandler()
    logger = logging.getLogger("ecomflow")
    logger.addHandler(steps)
    started = time.monotonic()
    done = threading.Event()
    with console.status(status_line(job, 0.0, None, [], False), spinner="dots") as status:

        def poll() -> None:
            while not done.wait(POLL_SECONDS):
                context = _spark_context()
                stages = active_stages(context) if context is not None else []
                status.update(status_line(job, time.monotonic() - started, steps.step, stages, context is not None))

        poller = threading.Thread(target=poll, name="ecomflow-progress", daemon=True)
        poller.start()
        # Log lines go through rich's stderr proxy while the line is live, so they print above it.
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, CliHandler)]
        streams = [h.setStream(sys.stderr) for h in handlers]
        try:
            yield
        finally:
            done.set()
            poller.join(timeout=2)
            logger.removeHandler(steps)
            for handler, stream in zip(handlers, streams, strict=True):
                if stream is not None:
                    handler.setStream(stream)
