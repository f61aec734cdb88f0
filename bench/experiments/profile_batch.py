"""Where the batch core spends its time: phase timings of `stage_run`/`publish_run`, plus noop-sink probes.

Runs the lib's own functions in the order `run_batch` does (read -> parse -> classify -> dedupe ->
write run lines -> report -> stage curated -> stage quarantine -> publish), times each phase, and
then times the transform prefix alone into Spark's `noop` sink to split reading, parsing, classifying,
deduplicating and writing. With `--event-log DIR` the Spark event log is kept and summarised per job.

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
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

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
        from ecomflow.pipelines.batch import StagedRun, load_lines, publish_run
        from ecomflow.readers import read_raw_lines
        from ecomflow.report import RunReport, summarise_lines
        from ecomflow.runtime import build_runtime
        from ecomflow.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA
        from ecomflow.sinks import lake
        from ecomflow.transforms import (classify_lines, drop_duplicate_lines, parse_raw_lines, to_curated,
                                         to_quarantine, with_lineage)
    with phase("JVM start + SparkSession (build_runtime)"):
        runtime = build_runtime("profile", extra=extra)
    spark = runtime.spark
    config = BatchConfig(input_uri=to_uri(args.input), lake_uri=to_uri(str(args.scratch / "lake")))
    run_id = "profile"
    run_uri = f"{config.runs_uri}/{run_id}"
    with phase("read+parse+classify+dedupe -> write run lines"):
        load_lines(spark, config, datetime.now(timezone.utc)).write.mode("overwrite").parquet(f"{run_uri}/lines")
    lines = spark.read.parquet(f"{run_uri}/lines")
    with phase("report (summarise_lines: 2 jobs)"):
        report = summarise_lines(lines, RunReport(run_id=run_id, input=config.input_uri, lake=config.lake_uri))
    with phase("stage_merge curated"):
        curated = lake.stage_merge(spark, to_curated(lines), config.curated_uri, f"{run_uri}/staged/curated",
                                   "record_id", CURATED_PARTITIONS, CURATED_SCHEMA)
    with phase("stage_merge quarantine"):
        quarantine = lake.stage_merge(spark, to_quarantine(lines), config.quarantine_uri,
                                      f"{run_uri}/staged/quarantine", "quarantine_id", QUARANTINE_PARTITIONS,
                                      QUARANTINE_SCHEMA)
    staged = StagedRun(config, report, curated, quarantine)
    with phase("quality gate (great-expectations, import included)"):
        from ecomflow.quality import QualityGate

        QualityGate()(spark, staged)
    with phase("publish (partition moves)"):
        publish_run(spark, staged)
    with phase("delete run folder"):
        lake.HadoopFs(spark).delete(run_uri)
    pipeline_total = sum(t for name, t in TIMINGS if name not in ("python imports (pyspark, ecomflow)",))

    if args.probes:
        cores = spark.sparkContext.defaultParallelism
        ingested = datetime.now(timezone.utc)

        def raw():  # noqa: ANN202
            frame = read_raw_lines(spark, config.input_uri, config.encoding)
            return frame.repartition(cores) if frame.rdd.getNumPartitions() < cores else frame

        def noop(frame) -> None:  # noqa: ANN001
            frame.write.format("noop").mode("overwrite").save()

        with phase("probe: read only (no repartition) -> noop"):
            noop(read_raw_lines(spark, config.input_uri, config.encoding))
        with phase("probe: read + repartition -> noop"):
            noop(raw())
        with phase("probe: + parse_raw_lines -> noop"):
            noop(raw().transform(parse_raw_lines))
        with phase("probe: + classify_lines -> noop"):
            noop(raw().transform(parse_raw_lines).transform(classify_lines, config.rules))
        with phase("probe: + lineage + drop_duplicate_lines -> noop"):
            noop(raw().transform(parse_raw_lines).transform(classify_lines, config.rules)
                 .transform(with_lineage, F.col("source"), ingested).transform(drop_duplicate_lines))
        published = spark.read.parquet(config.curated_uri)
        with phase("probe: curated -> repartition(year, month) -> parquet"):
            published.repartition("year", "month").write.mode("overwrite").partitionBy(
                "year", "month").parquet(str(args.scratch / "probe-repartitioned"))
        with phase("probe: curated -> parquet (no repartition)"):
            published.write.mode("overwrite").partitionBy("year", "month").parquet(
                str(args.scratch / "probe-plain"))
    result = {"input": args.input, "report": json.loads(report.to_json()),
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
