"""Where the batch core spends its time: phase timings of `stage_run`/gate/`publish_run`, plus noop probes.

Runs the lib's own functions in the order `run_batch` does (stage: read -> group shuffle -> parse ->
classify -> dedupe -> staged curated with the report observed; gate; publish), times each phase, and
then times the transform prefixes alone into Spark's `noop` sink to split reading, shuffling, parsing,
classifying, deduplicating and writing. With `--event-log DIR` the Spark event log is kept and summarised per job.

    python -m bench.experiments.profile_batch --input FILE [--scratch DIR] [--event-log DIR] [--probes]

Nothing here changes lib/ecomflow; it only calls it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

T0 = time.perf_counter()
TIMINGS: list[tuple[str, float]] = []


@contextmanager
def phase(name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    TIMINGS.append((name, time.perf_counter() - start))
    print(f"{name:<48} {TIMINGS[-1][1]:7.2f} s", file=sys.stderr, flush=True)


def summarise_event_log(directory: Path) -> list[dict]:
    """Per Spark job: wall time, the sum of its task times, and its stages' names."""
    logs = sorted(p for p in directory.iterdir() if p.is_file())
    if not logs:
        return []
    jobs: dict[int, dict] = {}
    stage_job: dict[int, int] = {}
    task_time: dict[int, float] = defaultdict(float)
    cpu_time: dict[int, float] = defaultdict(float)
    gc_time: dict[int, float] = defaultdict(float)
    shuffle_mb: dict[int, float] = defaultdict(float)
    stage_names: dict[int, str] = {}
    with open(logs[-1], encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                jobs[event["Job ID"]] = {"job": event["Job ID"], "start": event["Submission Time"],
                                         "stages": event["Stage IDs"],
                                         "description": event.get("Properties", {}).get("callSite.short", "")}
                for stage in event["Stage IDs"]:
                    stage_job[stage] = event["Job ID"]
            elif kind == "SparkListenerJobEnd":
                jobs[event["Job ID"]]["wall_s"] = (event["Completion Time"] - jobs[event["Job ID"]]["start"]) / 1000
            elif kind == "SparkListenerTaskEnd":
                info = event["Task Info"]
                task_time[event["Stage ID"]] += (info["Finish Time"] - info["Launch Time"]) / 1000
                metrics = event.get("Task Metrics") or {}
                cpu_time[event["Stage ID"]] += metrics.get("Executor CPU Time", 0) / 1e9
                gc_time[event["Stage ID"]] += metrics.get("JVM GC Time", 0) / 1000
                shuffle_mb[event["Stage ID"]] += (metrics.get("Shuffle Write Metrics") or {}).get(
                    "Shuffle Bytes Written", 0) / 2**20
            elif kind == "SparkListenerStageCompleted":
                stage_names[event["Stage Info"]["Stage ID"]] = event["Stage Info"]["Stage Name"]
    rows = []
    for job in sorted(jobs.values(), key=lambda j: j["job"]):
        ran = [s for s in job["stages"] if s in task_time]
        rows.append({"job": job["job"], "call": job["description"], "wall_s": round(job.get("wall_s", 0), 2),
                     "task_s": round(sum(task_time[s] for s in ran), 2),
                     "cpu_s": round(sum(cpu_time[s] for s in ran), 2),
                     "gc_s": round(sum(gc_time[s] for s in ran), 2),
                     "shuffle_write_mb": round(sum(shuffle_mb[s] for s in ran), 1),
                     "stages": [stage_names.get(s, "?") for s in ran]})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/ecomflow-bench/profile"))
    parser.add_argument("--event-log", type=Path)
    parser.add_argument("--probes", action="store_true", help="also time the transform prefixes into noop")
    args = parser.parse_args(argv)
    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    extra = {}
    if args.event_log:
        shutil.rmtree(args.event_log, ignore_errors=True)
        args.event_log.mkdir(parents=True)
        extra = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{args.event_log}"}

    with phase("python imports (pyspark, ecomflow)"):
        from pyspark.sql import functions as F

        from ecomflow.config import BatchConfig, to_uri
        from ecomflow.pipelines.batch import load_lines, publish_run, stage_run
        from ecomflow.pipelines.quality import QualityGate
        from ecomflow.runtime import build_runtime
        from ecomflow.spark.readers import read_raw_lines
        from ecomflow.spark.transforms import (
            classify_lines,
            drop_duplicate_lines,
            duplicate_group,
            parse_raw_lines,
            to_curated,
            with_lineage,
        )
        from ecomflow.stores.files import HadoopFs
    gate = QualityGate()  # starts importing great-expectations in the background, as the job does
    with phase("JVM start + SparkSession (build_runtime)"):
        runtime = build_runtime("profile", extra=extra)
    spark = runtime.spark
    config = BatchConfig(input_uri=to_uri(args.input), lake_uri=to_uri(str(args.scratch / "lake")))
    run_id = "profile"
    with phase("stage_run: read+group+parse+classify+dedupe -> staged curated (+ quarantine)"):
        staged = stage_run(spark, config, run_id)
    with phase("quality gate (great-expectations)"):
        gate(spark, staged)
    with phase("publish (fast-forward of main to the audit branch)"):
        publish_run(spark, staged)
    with phase("delete run folder"):
        HadoopFs(spark).delete(f"{config.runs_uri}/{run_id}")
    pipeline_total = sum(t for name, t in TIMINGS if name not in ("python imports (pyspark, ecomflow)",))

    if args.probes:
        tasks = 2 * spark.sparkContext.defaultParallelism
        ingested = datetime.now(UTC)

        def grouped():  # noqa: ANN202 - the raw lines as load_lines shuffles them
            frame = read_raw_lines(spark, config.input_uri, config.encoding)
            return frame.withColumn("_group", duplicate_group(F.col("raw_line"))).repartition(tasks, "_group")

        def noop(frame) -> None:  # noqa: ANN001
            frame.write.format("noop").mode("overwrite").save()

        with phase("probe: read only -> noop"):
            noop(read_raw_lines(spark, config.input_uri, config.encoding))
        with phase("probe: read + group shuffle -> noop"):
            noop(grouped())
        with phase("probe: + parse_raw_lines -> noop"):
            noop(grouped().transform(parse_raw_lines))
        with phase("probe: + classify_lines -> noop"):
            noop(grouped().transform(parse_raw_lines).transform(classify_lines, config.rules))
        with phase("probe: + lineage + drop_duplicate_lines -> noop"):
            noop(grouped().transform(parse_raw_lines).transform(classify_lines, config.rules)
                 .transform(with_lineage, F.col("source"), ingested).transform(drop_duplicate_lines, within="_group"))
        with phase("probe: load_lines -> curated parquet"):
            to_curated(load_lines(spark, config, ingested)).write.mode("overwrite").partitionBy(
                "year", "month").parquet(str(args.scratch / "probe-curated"))
    result = {"input": args.input, "report": json.loads(staged.report.to_json()),
              "phases": [{"phase": n, "seconds": round(t, 2)} for n, t in TIMINGS],
              "pipeline_after_imports_s": round(pipeline_total, 2),
              "load": [round(v, 2) for v in os.getloadavg()]}
    spark.stop()
    if args.event_log:
        result["jobs"] = summarise_event_log(args.event_log)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
