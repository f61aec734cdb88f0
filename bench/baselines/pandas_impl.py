"""The batch rules in pandas, reading the file in chunks so memory stays bounded by the chunk size.

Money is decimal through pandas' Arrow-backed dtype (`decimal128(12,3)`), never a float. Duplicates
are found across chunks with a sorted array of 64-bit prefixes of the sha-256 ids (8 bytes a distinct
line, the only state that grows with the data).

Run: `python -m bench.baselines.pandas_impl --input FILE --out DIR [--chunk-rows N]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bench.baselines import CUSTOMER_ID, FIELD_SEPARATOR, INTEGER, PRICE, SERVICE_CODES, print_counts

RAW = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
PRICE_TYPE = pd.ArrowDtype(pa.decimal128(12, 3))
REVENUE_TYPE = pd.ArrowDtype(pa.decimal128(18, 3))


def blank_as_null(text: pd.Series) -> pd.Series:
    trimmed = text.str.strip()
    return trimmed.where(trimmed != "", None)


def clean_chunk(raw: pd.DataFrame, source: str, ingested_at: datetime) -> pd.DataFrame:
    """Type, classify and id one chunk of raw string columns."""
    out = pd.DataFrame(index=raw.index)
    out["invoice_no"] = blank_as_null(raw["InvoiceNo"])
    out["stock_code"] = blank_as_null(raw["StockCode"]).str.upper()
    out["description"] = blank_as_null(raw["Description"])
    qty_text = blank_as_null(raw["Quantity"])
    qty_ok = qty_text.str.fullmatch(INTEGER[1:-1]).fillna(False).astype(bool)
    qty = pd.to_numeric(qty_text.where(qty_ok), errors="coerce")
    qty = qty.where(qty.between(-(2**31), 2**31 - 1))
    out["quantity"] = qty.astype("Int32")
    price_text = blank_as_null(raw["UnitPrice"])
    price_ok = price_text.str.fullmatch(PRICE[1:-1]).fillna(False).astype(bool)
    out["unit_price"] = price_text.where(price_ok).astype(PRICE_TYPE)
    revenue = pc.multiply(pc.cast(pa.array(out["quantity"]), pa.decimal128(10, 0)),
                          pa.array(out["unit_price"].array))
    out["revenue"] = pd.Series(pc.cast(revenue, pa.decimal128(18, 3)), index=raw.index, dtype=REVENUE_TYPE)
    out["invoice_ts"] = pd.to_datetime(blank_as_null(raw["InvoiceDate"]), format="%m/%d/%Y %H:%M",
                                       errors="coerce")
    customer_text = blank_as_null(raw["CustomerID"])
    out["customer_id"] = customer_text.str.extract(CUSTOMER_ID, expand=False)
    out["country"] = blank_as_null(raw["Country"])

    invoice = out["invoice_no"].fillna("")
    checks = [
        ("missing_invoice_no", out["invoice_no"].isna()),
        ("missing_stock_code", out["stock_code"].isna()),
        ("missing_country", out["country"].isna()),
        ("bad_quantity", out["quantity"].isna()),
        ("zero_quantity", out["quantity"].fillna(1) == 0),
        ("bad_unit_price", out["unit_price"].isna()),
        ("negative_price", (out["unit_price"].fillna(0) < 0) & ~invoice.str.startswith("A")),
        ("bad_invoice_date", out["invoice_ts"].isna()),
        ("bad_customer_id", customer_text.notna() & out["customer_id"].isna()),
    ]
    out["reason"] = np.select([c.to_numpy(dtype=bool) for _, c in checks], [n for n, _ in checks], default="")
    out["line_type"] = np.select(
        [invoice.str.startswith("C").to_numpy(bool), invoice.str.startswith("A").to_numpy(bool),
         (out["quantity"].fillna(0) < 0).to_numpy(bool), out["stock_code"].isin(SERVICE_CODES).to_numpy(bool)],
        ["cancellation", "adjustment", "stock_adjustment", "service"], default="sale")
    ts_text = out["invoice_ts"].dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    price_str = pd.Series(pc.cast(pa.array(out["unit_price"].array), pa.string()), index=raw.index).fillna("")
    parts = zip(invoice, out["stock_code"].fillna(""), out["description"].fillna(""),
                out["quantity"].astype("string").fillna(""), price_str, ts_text,
                out["customer_id"].fillna(""), out["country"].fillna(""), strict=True)
    digests = [hashlib.sha256(FIELD_SEPARATOR.join(p).encode("utf-8")).digest() for p in parts]
    out["record_id"] = [d.hex() for d in digests]
    out["_key"] = np.frombuffer(b"".join(d[:8] for d in digests), dtype=np.uint64) if digests else []
    out["year"] = out["invoice_ts"].dt.year.astype("Int32")
    out["month"] = out["invoice_ts"].dt.month.astype("Int32")
    out["source"] = source
    out["ingested_at"] = pd.Timestamp(ingested_at)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    line_types: dict[str, int] = {}
    with pd.read_csv(args.input, dtype=str, keep_default_na=False, encoding="ISO-8859-1",
                     chunksize=args.chunk_rows, usecols=RAW) as reader:
        chunks = enumerate(reader)
        rows_read, rows_curated, rows_quarantined, duplicates = write_chunks(chunks, out, args.input, line_types)
    print_counts(rows_read, rows_curated, rows_quarantined, duplicates, line_types)
    return 0


def write_chunks(chunks, out: Path, source: str, line_types: dict[str, int]) -> tuple[int, int, int, int]:
    """Clean, dedupe and write each chunk; return rows read, curated, quarantined and duplicates."""
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    seen = np.empty(0, dtype=np.uint64)
    rows_read = rows_curated = rows_quarantined = duplicates = 0
    for number, raw in chunks:
        lines = clean_chunk(raw, source, ingested_at)
        rows_read += len(lines)
        bad = lines["reason"] != ""
        rows_quarantined += int(bad.sum())
        valid = lines[~bad].drop_duplicates("_key")
        valid = valid[~np.isin(valid["_key"].to_numpy(), seen)]
        duplicates += int((~bad).sum()) - len(valid)
        seen = np.union1d(seen, valid["_key"].to_numpy())
        rows_curated += len(valid)
        for name, count in valid["line_type"].value_counts().items():
            line_types[name] = line_types.get(name, 0) + int(count)
        valid.drop(columns=["reason", "_key"]).to_parquet(
            out / "curated" / "sales", partition_cols=["year", "month"], index=False,
            basename_template=f"part-{number:05d}-{{i}}.parquet")
        if bad.any():
            (out / "quarantine" / "sales").mkdir(parents=True, exist_ok=True)
            lines.loc[bad, ["invoice_no", "stock_code", "reason", "source", "ingested_at"]].to_parquet(
                out / "quarantine" / "sales" / f"part-{number:05d}.parquet", index=False)
    return rows_read, rows_curated, rows_quarantined, duplicates


if __name__ == "__main__":
    code = main()
    # pyarrow's thread pools can abort the interpreter's teardown ("terminate called without an
    # active exception", seen intermittently in the test suite) after the work is done and counted:
    # flush and leave without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
