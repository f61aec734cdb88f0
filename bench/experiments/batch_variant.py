"""A copy of the batch core's staging with the changes proposed in docs/benchmarks.md, each behind a flag.

Not used by the product: it demonstrates what the proposals would gain, measured the same way as
`ecomflow batch` (run it through the harness with `--only ours,variant`). It calls lib/ecomflow for
everything it does not change; the changed pieces are copies of `load_lines` and `stage_merge`.

    python -m bench.experiments.batch_variant --input FILE --lake DIR --report FILE
        [--keep-raw-line] [--stage-repartition] [--no-plain-text]

- slim lines (default; `--keep-raw-line` turns it off): `raw_line` is kept only on quarantined lines,
  so valid lines do not carry their raw text through the dedupe shuffle and the run-lines parquet.
- plain partition write (default; `--stage-repartition` turns it off): the staged table is written
  with `partitionBy` only, sorted within the tasks, instead of `repartition(year, month)` first
  (a second full shuffle that also leaves only one task per month).
- plain-text input (default; `--no-plain-text` turns it off): a single .gz input is decompressed by
  `gzip -dc` into the run folder while the JVM starts, so Spark reads a splittable file with every
  core instead of one task inflating the whole file.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

log = logging.getLogger("bench.variant")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--keep-raw-line", action="store_true")
    parser.add_argument("--stage-repartition", action="store_true")
    parser.add_argument("--no-plain-text", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    input_path = args.input
    inflate = None
    if args.input.endswith(".gz") and not args.no_plain_text:
        # Started before the JVM: decompression overlaps the JVM start on the other core.
        scratch = Path(tempfile.mkdtemp(prefix="ecomflow-inflate-", dir=Path(args.lake).parent))
        input_path = str(scratch / Path(args.input).name[:-3])
        inflate = subprocess.Popen(f"gzip -dc '{args.input}' > '{input_path}'", shell=True)

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F

    from ecomflow.config import BatchConfig, to_uri
    from ecomflow.pipelines.batch import StagedRun, publish_gate, publish_run
    from ecomflow.readers import read_raw_lines
    from ecomflow.report import RunReport, summarise_lines
    from ecomflow.runtime import build_runtime
    from ecomflow.schemas import CURATED_PARTITIONS, CURATED_SCHEMA, QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA
    from ecomflow.sinks import lake
    from ecomflow.transforms import (classify_lines, drop_duplicate_lines, parse_raw_lines, to_curated,
                                     to_quarantine, with_lineage)

    runtime = build_runtime("bench-variant")
    spark = runtime.spark
    if inflate is not None and inflate.wait() != 0:
        raise RuntimeError(f"gzip -dc {args.input} failed")
    config = BatchConfig(input_uri=to_uri(input_path), lake_uri=to_uri(args.lake))
    run_id = "variant-" + uuid.uuid4().hex[:8]
    run_uri = f"{config.runs_uri}/{run_id}"

    def load_lines(ingested_at: datetime) -> DataFrame:
        raw = read_raw_lines(spark, config.input_uri, config.encoding)
        cores = spark.sparkContext.defaultParallelism
        if raw.rdd.getNumPartitions() < cores:
            raw = raw.repartition(cores)
        lines = (raw.transform(parse_raw_lines).transform(classify_lines, config.rules)
                 .transform(with_lineage, F.col("source"), ingested_at))
        if not args.keep_raw_line:
            lines = lines.withColumn("raw_line", F.when(F.col("reason").isNotNull(), F.col("raw_line")))
        return lines.transform(drop_duplicate_lines)

    def stage_merge(new_rows: DataFrame, published_uri: str, staged_uri: str, key: str,
                    partitions: Sequence[str], schema) -> lake.StagedTable:  # noqa: ANN001
        touched_rows = new_rows.select(*partitions).distinct().collect()
        ordered = sorted(touched_rows, key=lambda r: tuple(str(r[c]).zfill(12) for c in partitions))
        touched = tuple(lake.partition_path(r.asDict(), partitions) for r in ordered)
        fs = lake.HadoopFs(spark)
        fs.delete(staged_uri)
        if not touched:
            return lake.StagedTable(staged_uri, published_uri, ())
        existing_dirs = [p for p in touched if fs.exists(f"{published_uri}/{p}")]
        merged = new_rows.select(*schema.fieldNames())
        if existing_dirs:
            existing = (spark.read.schema(schema).option("basePath", published_uri)
                        .parquet(*[f"{published_uri}/{p}" for p in existing_dirs]).select(*schema.fieldNames()))
            merged = existing.unionByName(merged.join(existing.select(key), on=key, how="left_anti"))
        if args.stage_repartition:
            merged = merged.repartition(*partitions)
        else:
            merged = merged.sortWithinPartitions(*partitions)
        merged.write.mode("overwrite").partitionBy(*partitions).parquet(staged_uri)
        return lake.StagedTable(staged_uri, published_uri, touched)

    load_lines(datetime.now(timezone.utc)).write.mode("overwrite").parquet(f"{run_uri}/lines")
    lines = spark.read.parquet(f"{run_uri}/lines")
    report = summarise_lines(lines, RunReport(run_id=run_id, input=args.input, lake=config.lake_uri))
    curated = stage_merge(to_curated(lines), config.curated_uri, f"{run_uri}/staged/curated", "record_id",
                          CURATED_PARTITIONS, CURATED_SCHEMA)
    quarantine = stage_merge(to_quarantine(lines), config.quarantine_uri, f"{run_uri}/staged/quarantine",
                             "quarantine_id", QUARANTINE_PARTITIONS, QUARANTINE_SCHEMA)
    report.partitions_written = list(curated.partitions)
    report.quarantine_partitions_written = list(quarantine.partitions)
    staged = StagedRun(config, report, curated, quarantine)
    gate = publish_gate(config)  # the same great-expectations gate as `ecomflow batch`
    if gate is not None:
        gate(spark, staged)
    publish_run(spark, staged)
    runtime.commit()
    lake.HadoopFs(spark).delete(run_uri)
    if inflate is not None:
        Path(input_path).unlink(missing_ok=True)
        Path(input_path).parent.rmdir()
    report.write(args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
