"""The comparison implementations of the batch rules: a straightforward PySpark job, pandas, DuckDB.

Each is a module runnable as `python -m bench.baselines.NAME --input FILE --out DIR`; it applies the
rules of the data contract (trim, types, decimal money, line_type, sha-256 id, dedupe, quarantine,
partitioned parquet) and prints one line `BENCH_COUNTS {json}` with its row counts.
"""

from __future__ import annotations

import json
import sys

COUNTS_PREFIX = "BENCH_COUNTS "
SERVICE_CODES = ("POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B")
INTEGER = r"^[+-]?[0-9]{1,10}$"
PRICE = r"^[+-]?(?:[0-9]{1,9}(?:\.[0-9]{0,3})?|\.[0-9]{1,3})$"
CUSTOMER_ID = r"^([0-9]+)(?:\.0+)?$"
FIELD_SEPARATOR = "\u001f"


def print_counts(rows_read: int, rows_curated: int, rows_quarantined: int, duplicates_dropped: int,
                 line_types: dict[str, int]) -> None:
    """Print the counts line the harness parses (stdout, one line)."""
    counts = {"rows_read": int(rows_read), "rows_curated": int(rows_curated),
              "rows_quarantined": int(rows_quarantined), "duplicates_dropped": int(duplicates_dropped),
              "line_types": {k: int(v) for k, v in sorted(line_types.items())}}
    sys.stdout.write(COUNTS_PREFIX + json.dumps(counts) + "\n")
    sys.stdout.flush()
