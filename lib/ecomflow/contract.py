"""The data contract's facts, in one pyspark-free module: fields, bounds, grammars, text rules.

Everything that refuses or cleans a value reads it from here: the Spark transforms (batch and
streaming), the ingest Lambda (which must not ship pyspark), the DynamoDB keys and the GET routes.
So a value the API accepts is one the job curates, every store can hold and the routes can fetch.

Bounds are in bytes of UTF-8, what the stores count: Redshift's VARCHAR(n) holds n bytes, a
DynamoDB sort key at most 1,024 bytes and an item 400 KB. The grammars are ASCII, so no two
spellings of an id (`536365` and `５３６３６５`) exist, and a stock code can never hold the `#` that
separates it from the record id in the `Invoice` sort key, so no value can forge another's key.

Whitespace is trimmed by one rule in Python and Spark: the characters of `WHITESPACE` are taken
off both ends (`str.strip(WHITESPACE)`, Spark's `btrim(col, WHITESPACE)`), nothing inside is
touched. Python's own `strip()` knows more whitespace than Spark's `trim` (only spaces), which
made `85123A\\u00a0` one line in the API and another in the job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

RAW_FIELDS: tuple[str, ...] = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
RAW_HEADER = ",".join(RAW_FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "Country")
# The fields that are free text (the others must match a grammar of their own).
TEXT_FIELDS: tuple[str, ...] = ("Description", "Country")

# Trimmed from both ends of every field: ASCII whitespace, NEL, no-break and the Unicode spaces,
# the line and paragraph separators, and the zero-width no-break space (a stray BOM).
WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
              "\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff")
# No field may hold these after trimming: C0 and C1 control characters (NUL among them), DEL, lone
# surrogates, the replacement character (bytes the reader could not decode) and the noncharacters
# U+FFFE/U+FFFF. The same pattern text is a Java regex (Spark `rlike`) and a Python one.
FORBIDDEN_CHARACTERS = r"[\u0000-\u001f\u007f-\u009f\ud800-\udfff\ufffd\ufffe\uffff]"

# The CSV grammar of a raw line: a quoted field ("" escapes a quote) or an unquoted run without
# quotes or commas. Possessive quantifiers keep Java's regex engine from recursing on long fields.
# Anchored with \A and \z (not ^ and $, which in Java also match before a final U+0085, U+2028 or
# U+2029). Python spells Java's \z as \Z: `python_regex` compiles these patterns for Python.
CSV_FIELD = r'(?:"(?:[^"]++|"")*+"|[^,"]*+)'
CSV_LINE = rf"\A{CSV_FIELD}(?:,{CSV_FIELD})*+\z"
CSV_FIELD_AFTER_SEPARATOR = rf",({CSV_FIELD})"
# A quoted field's inside; (?s): a quoted field may hold any character, line separators included.
CSV_QUOTED_FIELD = r'(?s)\A"(.*)"\z'

# Id grammars, after trimming (stock codes also after upper-casing). Anchored for `rlike`/`match`.
INVOICE_NO = r"^[A-Za-z0-9]{1,32}$"
STOCK_CODE = r"^[A-Z0-9 _./-]{1,64}$"
CUSTOMER_ID = r"^([0-9]{1,20})(?:\.0+)?$"  # `17850.0` is the customer `17850`
INTEGER = r"^[+-]?[0-9]{1,10}$"
# At most 9 integer and 3 fractional digits: decimal(12,3) holds it exactly.
PRICE = r"^[+-]?(?:[0-9]{1,9}(?:\.[0-9]{0,3})?|\.[0-9]{1,3})$"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

# Bytes (UTF-8) a field may hold, what its store holds: Redshift `sales` (sql/redshift/V001) and
# the GET routes. The id grammars bound invoice numbers, stock codes and customer ids already.
MAX_BYTES: dict[str, int] = {
    "InvoiceNo": 32,
    "StockCode": 64,
    "Description": 1024,
    "Quantity": 11,
    "InvoiceDate": 64,
    "UnitPrice": 14,
    "CustomerID": 32,
    "Country": 128,
}

# Quarantine reason codes, in the order the rules are checked (the first failing one is kept).
REASONS: tuple[str, ...] = (
    "malformed_csv",
    "wrong_field_count",
    "bad_characters",
    "missing_invoice_no",
    "bad_invoice_no",
    "missing_stock_code",
    "bad_stock_code",
    "description_too_long",
    "missing_country",
    "country_too_long",
    "bad_quantity",
    "zero_quantity",
    "bad_unit_price",
    "negative_price",
    "bad_invoice_date",
    "bad_customer_id",
    "revenue_overflow",
)

# Quarantine reasons of lines a store refused although they passed the rules (the dead-letter place).
REJECTED_BY_DYNAMODB, REJECTED_BY_REDSHIFT = "rejected_by_dynamodb", "rejected_by_redshift"
SINK_REASONS: tuple[str, ...] = (REJECTED_BY_DYNAMODB, REJECTED_BY_REDSHIFT)

# What a curated line is, in the order the classification checks (`spark.transforms.classify_lines`).
LINE_TYPES: tuple[str, ...] = ("cancellation", "adjustment", "stock_adjustment", "service", "sale")

# The lake: its two tables (their names in the Glue Data Catalog, Athena and Redshift) and the zones
# below a lake's root where they and the jobs' staging live.
CURATED_TABLE = "sales"
# The database (Glue Data Catalog; a namespace of the local Iceberg catalog) the lake's tables live in
# and the SQL files are written against, unless a job's `--catalog_database` names another.
LAKE_DATABASE = "ecomflow"
QUARANTINE_TABLE = "sales_quarantine"
CURATED_ZONE = "curated/sales"
QUARANTINE_ZONE = "quarantine/sales"
RUNS_ZONE = "_runs"  # staged batch runs (kept when the gate fails) and the streaming job's staging
LEDGER_ZONE = "_ledger/inputs"  # the raw input objects batch runs processed (`--incremental on`)
REPORTS_ZONE = "_reports"  # one folder per batch run: its report.json (and the page `ecomflow report` writes)


def zone_uri(lake_uri: str, zone: str) -> str:
    """Where `zone` (CURATED_ZONE, QUARANTINE_ZONE, RUNS_ZONE) lives in the lake at `lake_uri`."""
    return f"{lake_uri}/{zone}"

_FORBIDDEN = re.compile(FORBIDDEN_CHARACTERS)
_INVOICE_NO = re.compile(INVOICE_NO)
_STOCK_CODE = re.compile(STOCK_CODE)
_CUSTOMER_ID = re.compile(CUSTOMER_ID)
_INTEGER = re.compile(INTEGER)
_PRICE = re.compile(PRICE)


def python_regex(pattern: str) -> re.Pattern[str]:
    r"""One of the patterns above for Python's `re`: Java's end-of-input anchor \z is Python's \Z."""
    return re.compile(pattern.replace(r"\z", r"\Z"))


def trim(value: str | None) -> str | None:
    """`value` without the contract's whitespace at either end; None stays None."""
    return None if value is None else value.strip(WHITESPACE)


def utf8_length(value: str) -> int:
    """Bytes of `value` in UTF-8 (a lone surrogate counts as the 3 bytes Java would write)."""
    return len(value.encode("utf-8", errors="surrogatepass"))


def field_problems(values: dict[str, str | None]) -> list[str]:
    """What keeps one record's raw fields from being a line every store can hold (empty: none).

    The messages name the field and the limit; the Spark transforms check the same rules (and
    the job's own ones: the date format, zero quantities, negative prices) and quarantine instead.
    """
    problems: list[str] = []
    trimmed = {name: trim(values.get(name)) for name in RAW_FIELDS}
    for name in RAW_FIELDS:
        value = trimmed[name]
        if value is None or value == "":
            if name in REQUIRED_FIELDS:
                problems.append(f"{name} is missing")
            continue
        if _FORBIDDEN.search(value):
            problems.append(f"{name} holds a control character, NUL, lone surrogate or undecodable byte")
            continue
        if utf8_length(value) > MAX_BYTES[name]:
            problems.append(f"{name} is longer than {MAX_BYTES[name]} bytes (UTF-8)")
            continue
        problem = _grammar_problem(name, value)
        if problem:
            problems.append(problem)
    return problems


def _grammar_problem(name: str, value: str) -> str | None:
    if name == "InvoiceNo" and not _INVOICE_NO.match(value):
        return f"InvoiceNo {shown(value)} is not 1-32 ASCII letters and digits"
    if name == "StockCode" and not _STOCK_CODE.match(value.upper()):
        return f"StockCode {shown(value)} is not 1-64 of A-Z, 0-9, space, _ . / -"
    if name == "Quantity" and not (_INTEGER.match(value) and INT_MIN <= int(value) <= INT_MAX):
        return f"Quantity {shown(value)} is not a whole number"
    if name == "UnitPrice" and not _PRICE.match(value):
        return f"UnitPrice {shown(value)} is not a decimal number with at most 9 digits before and 3 after the point"
    if name == "CustomerID" and not _CUSTOMER_ID.match(value):
        return f"CustomerID {shown(value)} is not a number of at most 20 digits"
    return None


def shown(value: str, limit: int = 40) -> str:
    """A value as an error message quotes it: repr, cut to `limit` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def is_invoice_no(value: str) -> bool:
    return bool(_INVOICE_NO.match(value))


def is_stock_code(value: str) -> bool:
    """Whether `value` (already upper-cased) is a stock code: never holds the sort key separator."""
    return bool(_STOCK_CODE.match(value))


def customer_digits(value: str) -> str | None:
    """The digits of a customer id (`17850.0` -> `17850`), None when it is not one."""
    match = _CUSTOMER_ID.match(value)
    return match.group(1) if match else None


# --- the record JSON codec: how a raw record travels on the stream ----------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def record_json(values: Mapping[str, str | None]) -> str:
    """Compact JSON of the raw fields in header order, nulls left out (as Spark's `to_json` writes it)."""
    kept = {name: values[name] for name in RAW_FIELDS if values.get(name) is not None}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def raw_text(value: Any) -> str | None:
    """A JSON value as the text a CSV field would hold: strings as they are, numbers as written.

    Raises:
        TypeError: the value is a boolean, an object or an array.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(type(value).__name__)
    return str(value)


def raw_fields(record: Mapping[str, Any]) -> dict[str, str | None]:
    """The raw fields of a decoded record as strings; unknown keys are ignored, bad types raise TypeError."""
    return {name: raw_text(record.get(name)) for name in RAW_FIELDS}


def decode_stream_record(data: bytes | bytearray | None) -> tuple[str | None, ...]:
    """A stream record's raw fields and its text, as the streaming job reads every record.

    The bytes are UTF-8 text (undecodable bytes become U+FFFD); the fields come from that text
    when it is one JSON object of raw fields (read as the ingest API reads them: strings as they
    are, numbers as written). Anything else (not JSON, half a document, an array, a nested value,
    a number Python will not read) keeps only its text and has no fields, so it is quarantined
    with its own raw line. Returns the RAW_FIELDS values in order, then the text; never raises.
    """
    text = bytes(data or b"").decode("utf-8", errors="replace")
    try:
        document = json.loads(text, parse_float=Decimal)
        values = raw_fields(document) if isinstance(document, dict) else {}
    except (ValueError, TypeError, RecursionError, ArithmeticError):  # JSONDecodeError is a ValueError, so
        # is a 5,000-digit int; `1e99999999999999999999` is decimal.InvalidOperation, an ArithmeticError
        values = {}
    # A JSON escape can spell a lone surrogate (`"\ud800"`), which no UTF-8 store (nor Spark) can
    # take: it becomes U+FFFD, which the contract refuses, so the line is quarantined, not lost.
    return (*(_LONE_SURROGATE.sub("\ufffd", v) if v else v for v in (values.get(n) for n in RAW_FIELDS)), text)
