"""Micro-batch cost of the streaming DynamoDB sink, on the local stack, in local and cluster mode.

    python -m bench.dynamodb_sink [--lines 5000] [--batches 5] [--input FILE]
    # cluster mode: the same script under spark-submit on a standalone master (see docs/benchmarks-streaming.md)
    $SPARK_HOME/bin/spark-submit --master "local-cluster[2,1,1024]" --py-files dist/ecomflow.zip \
        bench/dynamodb_sink.py --lines 5000

Each of `--batches` micro-batches holds `--lines` distinct real lines (the first lines of the real
file, or of a generated one) as the records the ingest API writes; `process_batch` runs with the
DynamoDB sink alone into fresh tables on a temporary moto server. One warm-up batch first. Prints
the median, min and max of the whole micro-batch and of the sink's own seconds, and the Spark master.

Works against an older checkout too (driver-side writes: `DynamoDbSink(client)`, records as raw
field columns), which is how the "before" figures were taken.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail.csv.gz"


def _lines(path: Path | None, count: int) -> list[str]:
    if path is None and REAL.exists():
        path = REAL
    if path is None:
        from ecomflow.devtools.generate import generate_file

        path = Path(tempfile.mkdtemp()) / "generated.csv"
        generate_file(str(path), rows=count + 1000, seed=11, malformed_rate=0.0)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="latin-1") as handle:
        next(handle)
        lines = []
        for line in handle:
            lines.append(line.rstrip("\n"))
            if len(lines) == count:
                break
    return lines


def _frame(spark, stream, lines: list[str]):
    import csv

    from ecomflow.api.ingest import RawRecord
    from ecomflow.contract import RAW_FIELDS

    records = [RawRecord.of(dict(zip(RAW_FIELDS, row, strict=True))) for row in csv.reader(lines)]
    if hasattr(stream, "KINESIS_RECORD_SCHEMA"):  # records as their bytes
        return spark.createDataFrame([(r.to_json().encode(), i) for i, r in enumerate(records)],
                                     stream.KINESIS_RECORD_SCHEMA)
    return spark.createDataFrame([r.as_dict() for r in records], stream.RAW_RECORD_SCHEMA)


def _session():
    import os

    from pyspark.sql import SparkSession

    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # under spark-submit: the launcher's session
        spark = SparkSession.builder.getOrCreate()
        from ecomflow.runtime import SESSION_SETTINGS

        for key, value in SESSION_SETTINGS.items():
            spark.conf.set(key, value)
        return spark
    from ecomflow.local.spark import local_session

    return local_session()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args(argv)

    from ecomflow import aws
    from ecomflow.config import StreamConfig
    from ecomflow.local.localstack import stack_environment, temporary_stack
    from ecomflow.pipelines import stream, stream_sinks
    from ecomflow.stores import dynamodb

    lines = _lines(args.input, args.lines * (args.batches + 1))
    spark = _session()
    with temporary_stack() as endpoints, stack_environment(endpoints), tempfile.TemporaryDirectory() as tmp:
        tag = uuid.uuid4().hex[:8]
        config = StreamConfig(stream_name="bench", lake_uri=f"file://{tmp}/lake", checkpoint_uri=f"{tmp}/cp",
                              invoice_table=f"Invoice-{tag}", customer_table=f"Customer-{tag}")
        client = aws.client("dynamodb")
        dynamodb.ensure_tables(client, config.invoice_table, config.customer_table)
        try:
            sink = stream_sinks.DynamoDbSink(client)  # before: the driver's client
            if not hasattr(sink, "client"):
                raise TypeError
        except TypeError:
            sink = stream_sinks.DynamoDbSink()  # now: settings shipped to the executors
        sink_seconds: list[float] = []

        def timed(batch):
            started = time.perf_counter()
            sink(batch)
            sink_seconds.append(time.perf_counter() - started)

        totals: list[float] = []
        for number in range(args.batches + 1):
            frame = _frame(spark, stream, lines[number * args.lines:(number + 1) * args.lines]).cache()
            frame.count()
            started = time.perf_counter()
            result = stream.process_batch(frame, number, config, sinks=[timed])
            totals.append(time.perf_counter() - started)
            frame.unpersist()
            assert result.written["dynamodb_items"] > 0
        totals, sink_seconds = totals[1:], sink_seconds[1:]  # the first batch warms the JVM and the sink
    figures = {
        "master": spark.sparkContext.master, "lines_per_batch": args.lines, "batches": args.batches,
        "batch_s": {"median": round(statistics.median(totals), 3), "min": round(min(totals), 3),
                    "max": round(max(totals), 3)},
        "sink_s": {"median": round(statistics.median(sink_seconds), 3), "min": round(min(sink_seconds), 3),
                   "max": round(max(sink_seconds), 3)},
    }
    text = json.dumps(figures)
    print(text)  # noqa: T201 - the benchmark's result
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
