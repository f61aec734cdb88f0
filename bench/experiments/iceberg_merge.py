"""What the batch job's lake write costs on Iceberg: the lib's partition-scoped MERGE, a re-run, publishing.

Loads the input's curated lines once (cached), then times, in one local session on the running local
stack's PostgreSQL catalog, `iceberg.merge_new_rows` into a fresh table, then again (a re-run: every
key matched), then onto an audit branch and `publish_branch`. (Until issue 15's second step it also
timed the plain-parquet stage + swap of `stores/lake.py`, since deleted; docs/benchmarks.md keeps
those figures.)

    python -m bench.experiments.iceberg_merge --input FILE [--scratch DIR]

Nothing here changes lib/ecomflow; it only calls it. Prints one JSON line of seconds and row counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/ecomflow-bench/iceberg-merge"))
    args = parser.parse_args(argv)

    from ecomflow.config import BatchConfig
    from ecomflow.local import iceberg as local_iceberg
    from ecomflow.local.spark import local_session
    from ecomflow.pipelines.batch import load_lines
    from ecomflow.spark.transforms import to_curated
    from ecomflow.stores import iceberg

    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    spark = local_session(app_name="bench-iceberg-merge")
    lake_uri = str(args.scratch / "iceberg")
    name = local_iceberg.register_catalog(spark, lake_uri)  # first: no local stack, no run
    config = BatchConfig(input_uri=args.input, lake_uri=str(args.scratch / "unused"))
    curated = to_curated(load_lines(spark, config, datetime.now(UTC))).cache()
    rows = curated.count()
    out: dict[str, float | int | str] = {"input": args.input, "rows": rows}

    def timed(name: str, action) -> None:  # noqa: ANN001
        start = time.perf_counter()
        action()
        out[name] = round(time.perf_counter() - start, 2)
        print(f"{name:<32} {out[name]:7.2f} s", file=sys.stderr, flush=True)

    table, _ = iceberg.lake_tables(name, "ecomflow", lake_uri)
    iceberg.ensure_table(spark, table)
    timed("iceberg_first_run_s", lambda: iceberg.merge_new_rows(spark, table, curated))
    timed("iceberg_rerun_s", lambda: iceberg.merge_new_rows(spark, table, curated))
    branch = iceberg.audit_branch("bench")
    iceberg.create_branch(spark, table, branch)
    timed("iceberg_branch_rerun_s", lambda: iceberg.merge_new_rows(spark, table, curated, branch=branch))
    timed("iceberg_publish_s", lambda: iceberg.publish_branch(spark, table, branch))
    out["iceberg_rows"] = spark.table(table.ident).count()
    out["iceberg_data_files"] = spark.table(f"{table.ident}.files").count()
    print(json.dumps(out, sort_keys=True))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
