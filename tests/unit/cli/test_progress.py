"""The status line `ecomflow batch`/`stream` draw while Spark works."""

from __future__ import annotations

import logging
import threading

from ecomflow.cli.progress import StageProgress, StepHandler, active_stages, progress_enabled, status_line, step_of


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("ecomflow.x", logging.INFO, __file__, 1, message, None, None)


def test_the_line_shows_time_stage_tasks_rows_and_the_last_step():
    line = status_line("batch", 72.4, "staged 13 partitions", [StageProgress(3, 2, 4, 250_000)], True)
    assert line == "batch 1:12 · Spark stage 3: 2/4 tasks, 250,000 rows · staged 13 partitions"


def test_before_spark_the_line_says_so():
    assert status_line("batch", 0.0, None, [], False) == "batch 0:00 · starting Spark"
    assert status_line("stream", 5.0, None, [], True) == "stream 0:05 · Spark idle"


def test_a_step_is_the_first_line_without_its_json():
    assert step_of(record("run 1 staged: {\n  \"rows_read\": 5\n}")) == "run 1 staged"
    assert len(step_of(record("x" * 200))) == 60


def test_the_step_handler_keeps_the_last_message():
    handler = StepHandler()
    handler.handle(record("one"))
    handler.handle(record("two"))
    assert handler.step == "two"


def test_progress_is_drawn_on_a_terminal_only_unless_forced():
    assert progress_enabled("auto", True) and not progress_enabled("auto", False)
    assert progress_enabled("on", False) and not progress_enabled("off", True)


def test_active_stages_are_read_from_the_driver_while_a_job_runs(spark):
    seen: list[StageProgress] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.extend(active_stages(spark.sparkContext))
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    spark.range(0, 3_000_000, numPartitions=4).selectExpr("id % 7 AS k").groupBy("k").count().collect()
    done.set()
    poller.join()
    assert seen and all(stage.tasks >= 1 and 0 <= stage.tasks_done <= stage.tasks for stage in seen)


def test_active_stages_of_a_context_that_cannot_answer_are_none():
    assert active_stages(object()) == []
