"""Does a streamed micro-batch load Redshift in time proportional to the batch, or to its month?

On a temporary local stack (moto + PostgreSQL 15 playing Redshift, the lake's Iceberg catalog on
the same PostgreSQL), for months of `--months` sizes:

1. a month of synthetic curated lines goes into a fresh Iceberg `sales` and into PostgreSQL `sales`
   (`upsert_partitions`, the batch job's path);
2. `--batches` micro-batches of `--batch` new lines of that month each go into the lake
   (`merge_new_rows` with the batch summary, as the stream sink does) and then into Redshift:
   - `batch`: `PostgresTarget.upsert_batch` (stages the batch's rows, MERGEs new/changed only);
   - `month`: what the Data API path did before (re-load and MERGE every row of the touched
     month: here `upsert_partitions` of the month, which now skips unchanged rows in the MERGE but
     still stages the month);
   - `files`: what the Data API path COPYs now: the files the batch's commit added
     (`iceberg.added_data_files`, Java API) against the month's committed files
     (`iceberg.committed_files`): the files and bytes a COPY manifest would list.

    python -m bench.experiments.redshift_stream_load [--months 20000 100000 300000] [--batch 500]

Prints one JSON line (medians of the micro-batches, seconds) and a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid


def synthetic(spark, start: int, count: int):  # noqa: ANN001, ANN201 - DataFrame
    """`count` distinct curated lines of December 2011, ids from `start`."""
    from pyspark.sql import functions as F

    from ecomflow.spark.schemas import CURATED_SCHEMA

    ids = spark.range(start, start + count)
    frame = ids.select(
        F.sha2(F.col("id").cast("string"), 256).alias("record_id"),
        (F.lit("5") + F.lpad((F.col("id") % 100000).cast("string"), 5, "0")).alias("invoice_no"),
        F.concat(F.lit("C"), (F.col("id") % 4000).cast("string")).alias("stock_code"),
        F.lit("A SYNTHETIC LINE").alias("description"),
        (F.col("id") % 12 + 1).cast("int").alias("quantity"),
        F.lit("2.550").cast("decimal(12,3)").alias("unit_price"),
        ((F.col("id") % 12 + 1) * F.lit("2.550").cast("decimal(12,3)")).cast("decimal(18,3)").alias("revenue"),
        F.to_timestamp(F.lit("2011-12-01 08:26:00")).alias("invoice_ts"),
        F.lit("17850").alias("customer_id"), F.lit("United Kingdom").alias("country"), F.lit("sale").alias("line_type"),
        F.lit("bench").alias("source"), F.current_timestamp().alias("ingested_at"),
        F.lit(2011).alias("year"), F.lit(12).alias("month"))
    return spark.createDataFrame(frame.rdd, CURATED_SCHEMA)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, nargs="+", default=[20_000, 100_000, 300_000])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args(argv)

    import tempfile
    from pathlib import Path

    import psycopg

    from ecomflow.local import iceberg as local_iceberg
    from ecomflow.local.localstack import stack_environment, temporary_stack
    from ecomflow.local.postgres_target import PostgresTarget
    from ecomflow.local.spark import local_session
    from ecomflow.stores import iceberg

    spark = local_session(app_name="bench-redshift-stream-load",
                          extra={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    results = []
    with temporary_stack() as stack, stack_environment(stack), tempfile.TemporaryDirectory() as scratch:
        for month_rows in args.months:
            lake = (Path(scratch) / f"lake-{month_rows}").as_uri()
            table, _ = iceberg.lake_tables(local_iceberg.register_catalog(spark, lake, stack.postgres), "ecomflow",
                                           lake)
            iceberg.ensure_table(spark, table)
            name = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(stack.postgres.dsn, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            target = PostgresTarget(stack.postgres.with_database(name).dsn)
            target.migrate()
            iceberg.merge_new_rows(spark, table, synthetic(spark, 0, month_rows), summary={"ecomflow.run-id": "seed"})
            started = time.perf_counter()
            target.upsert_partitions(spark, table, ["year=2011/month=12"])
            seeded = time.perf_counter() - started
            timings: dict[str, list[float]] = {"lake": [], "batch": [], "month": [], "added_files": [],
                                               "month_files": []}
            sizes: dict[str, list[int]] = {"added_files": [], "added_bytes": [], "month_files": [], "month_bytes": []}
            for n in range(args.batches):
                rows = synthetic(spark, month_rows + n * args.batch, args.batch).cache()
                rows.count()
                token = uuid.uuid4().hex
                started = time.perf_counter()
                iceberg.merge_new_rows(spark, table, rows, touched=[{"year": 2011, "month": 12}],
                                       summary={"ecomflow.batch-id": str(n), "ecomflow.commit-id": token})
                (commit,) = iceberg.commits_with(spark, table, {"ecomflow.commit-id": token})
                timings["lake"].append(time.perf_counter() - started)

                started = time.perf_counter()
                merged = target.upsert_batch(spark, table, rows, [commit]).merged_rows
                timings["batch"].append(time.perf_counter() - started)
                assert merged == args.batch, merged

                started = time.perf_counter()
                added = iceberg.added_data_files(spark, table, commit.snapshot_id)
                timings["added_files"].append(time.perf_counter() - started)
                started = time.perf_counter()
                month = iceberg.committed_files(spark, table, [{"year": 2011, "month": 12}])
                timings["month_files"].append(time.perf_counter() - started)
                sizes["added_files"].append(len(added))
                sizes["added_bytes"].append(sum(f.size_bytes for f in added))
                sizes["month_files"].append(len(month))
                sizes["month_bytes"].append(sum(f.size_bytes for f in month))

                started = time.perf_counter()
                again = target.upsert_partitions(spark, table, ["year=2011/month=12"]).merged_rows
                timings["month"].append(time.perf_counter() - started)
                assert again == 0, again  # the batch's rows are there: the month re-load changes nothing
                rows.unpersist()
            row = {"month_rows": month_rows, "batch_rows": args.batch, "batches": args.batches,
                   "seed_upsert_partitions_s": round(seeded, 2),
                   **{f"{k}_s": round(statistics.median(v), 3) for k, v in timings.items()},
                   **{k: int(statistics.median(v)) for k, v in sizes.items()}}
            results.append(row)
            print(f"month {month_rows:>7,}: lake {row['lake_s']:.2f}s  redshift batch {row['batch_s']:.2f}s  "
                  f"month re-load {row['month_s']:.2f}s  added files {row['added_files']} "
                  f"({row['added_bytes']:,} B, {row['added_files_s']:.3f}s)  month files {row['month_files']} "
                  f"({row['month_bytes']:,} B)", file=sys.stderr, flush=True)
            with psycopg.connect(stack.postgres.dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps({"bench": "redshift_stream_load", "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
