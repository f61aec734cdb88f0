"""The dirt profile of a raw Online Retail CSV file, in pure Python (no Spark).

Used to calibrate `ecomflow.devtools.generate` against the real file and to check that a generated file
has the same profile: `python -m ecomflow.devtools.raw_profile FILE [FILE ...]` prints the profile(s) as JSON.
Lines are judged one at a time, as the batch reader does (a quote never spans lines).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

from ecomflow.config import DEFAULT_SERVICE_CODES
from ecomflow.contract import RAW_HEADER

_INT = re.compile(r"^-?\d+$")
_PRICE = re.compile(r"^-?\d+(\.\d+)?$")
_FLOAT_CUSTOMER = re.compile(r"^\d+\.0$")

# The dirt rates of a profile, each a share of all data lines.
RATE_NAMES: tuple[str, ...] = (
    "cancellation", "adjustment", "stock_adjustment", "service", "zero_price", "missing_customer",
    "exact_duplicate", "repeated_pair", "lowercase_stock_code", "quoted_description",
    "trailing_space_description", "pound_sign", "malformed", "float_customer_id",
)


def _lines(path: str) -> Iterator[str]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="latin-1", newline="") as handle:
        yield from handle


def _split(line: str) -> list[str]:
    if '"' not in line:
        return line.split(",")
    return next(csv.reader([line]), [])


@lru_cache(maxsize=4096)
def _parse_date(text: str) -> datetime | None:
    # Lines of one invoice share their date: caching the parse makes profiling several times faster.
    try:
        return datetime.strptime(text, "%m/%d/%Y %H:%M")
    except ValueError:
        return None


def _malformed(fields: list[str], line: str) -> bool:
    if line.count('"') % 2 or len(fields) != 8:
        return True
    invoice, code, _, quantity, date, price, customer, country = fields
    if not invoice.strip() or not code.strip() or not country.strip():
        return True
    if not _INT.match(quantity) or int(quantity) == 0 or not _PRICE.match(price):
        return True
    if customer and not (customer.isdigit() or _FLOAT_CUSTOMER.match(customer)):
        return True
    return _parse_date(date) is None


def profile_file(path: str, service_codes: tuple[str, ...] = DEFAULT_SERVICE_CODES) -> dict[str, Any]:
    """Compute the byte layout and dirt profile of the raw CSV file at `path` (`.gz` read as gzip).

    Returns a JSON-able dict: `rows` (data lines), `invoices`, `lines_per_invoice`, `rates` (each
    name of `RATE_NAMES` as a share of all data lines; line kinds follow the contract's line_type
    precedence), `uk_share`, `countries`, `country_shares` (top 10), the date range, hours seen,
    lines on a Saturday, and the byte layout facts (`header_ok`, `crlf_lines`).
    Memory grows with the file (one hash per line), which is fine for a profiling tool.
    """
    services = {code.upper() for code in service_codes}
    counts: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    hours: Counter[int] = Counter()
    seen_lines: set[int] = set()
    pair_lines: dict[tuple[str, str], set[int]] = {}
    invoices: set[str] = set()
    first_date: datetime | None = None
    last_date: datetime | None = None
    rows = 0
    header_ok = False
    for number, raw in enumerate(_lines(path)):
        if raw.endswith("\r\n"):
            counts["crlf_lines"] += 1
        line = raw.rstrip("\r\n")
        if number == 0:
            header_ok = line.lstrip("\ufeff") == RAW_HEADER
            if header_ok:
                continue
        if not line:
            continue
        rows += 1
        key = hash(line)
        if key in seen_lines:
            counts["exact_duplicate"] += 1
            is_duplicate = True
        else:
            seen_lines.add(key)
            is_duplicate = False
        fields = _split(line)
        if _malformed(fields, line):
            counts["malformed"] += 1
            continue
        invoice, code, description, quantity, date, price, customer, country = fields
        invoices.add(invoice)
        if not is_duplicate:
            pair_lines.setdefault((invoice, code.upper()), set()).add(key)
        qty = int(quantity)
        if invoice.startswith("C"):
            counts["cancellation"] += 1
        elif invoice.startswith("A"):
            counts["adjustment"] += 1
        elif qty < 0:
            counts["stock_adjustment"] += 1
        elif code.upper() in services:
            counts["service"] += 1
        if float(price) == 0:
            counts["zero_price"] += 1
        if not customer:
            counts["missing_customer"] += 1
        elif _FLOAT_CUSTOMER.match(customer):
            counts["float_customer_id"] += 1
        if code != code.upper():
            counts["lowercase_stock_code"] += 1
        if '"' in line:  # only a description can need quoting in a valid line
            counts["quoted_description"] += 1
        if description != description.rstrip(" "):
            counts["trailing_space_description"] += 1
        if "\xa3" in description:
            counts["pound_sign"] += 1
        countries[country] += 1
        when = _parse_date(date)
        assert when is not None  # a line without a valid date was counted as malformed above
        first_date = when if first_date is None or when < first_date else first_date
        last_date = when if last_date is None or when > last_date else last_date
        hours[when.hour] += 1
        if when.weekday() == 5:
            counts["saturday_lines"] += 1
    counts["repeated_pair"] = sum(len(keys) for keys in pair_lines.values() if len(keys) > 1)
    valid = sum(countries.values())
    share = (lambda n: round(n / rows, 6)) if rows else (lambda n: 0.0)
    return {
        "rows": rows,
        "header_ok": header_ok,
        "crlf_lines": counts["crlf_lines"],
        "invoices": len(invoices),
        "lines_per_invoice": round(rows / len(invoices), 3) if invoices else 0.0,
        "rates": {name: share(counts[name]) for name in RATE_NAMES},
        "counts": {name: counts[name] for name in RATE_NAMES},
        "uk_share": round(countries["United Kingdom"] / valid, 6) if valid else 0.0,
        "countries": len(countries),
        "country_shares": {name: round(n / valid, 6) for name, n in countries.most_common(10)},
        "date_min": first_date.isoformat(sep=" ") if first_date else None,
        "date_max": last_date.isoformat(sep=" ") if last_date else None,
        "hours": sorted(hours),
        "saturday_lines": counts["saturday_lines"],
    }


def main(argv: list[str] | None = None) -> int:
    """Print the profile of each file named on the command line as JSON."""
    paths = sys.argv[1:] if argv is None else argv
    print(json.dumps({path: profile_file(path) for path in paths}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
