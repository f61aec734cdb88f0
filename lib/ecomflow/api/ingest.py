"""Record ingestion behind `POST /records`: parse, validate, and put raw records on Kinesis.

A request carries raw records with the raw field names of the CSV header, either as JSON
(`{"records": [{...}, ...]}`) or as `text/csv` (header plus rows). Every record becomes the same
thing on the stream: a compact JSON object of the eight raw fields as strings, exactly as a CSV
field would hold them (absent or null fields left out, keys in header order), with partition key
InvoiceNo so an invoice's lines stay on one shard. The streaming job types and cleans them with
the batch job's transforms, so a line gets the same `record_id` whichever way it came in.

Validation here is structural only: the request is JSON or CSV of at most 500 records and 5 MiB
(the PutRecords limits), each record has InvoiceNo, StockCode, Quantity, InvoiceDate, UnitPrice
and Country, Quantity is a whole number, UnitPrice a decimal with at most 3 places, CustomerID
digits. A request with a bad record is refused as a whole (400, naming each bad record), so a
producer never has to work out which half of a request was taken. Rules of the data contract
that need the job's settings (the date format, zero quantities, negative prices) are applied by
the streaming job, which quarantines such lines with a reason, as the batch job does.

No pyspark here: this module runs inside the ingest Lambda.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
import time
from typing import Any, Callable, Iterable, Mapping

from ecomflow.contract import RAW_FIELDS, REQUIRED_FIELDS, field_problems, raw_fields, record_json
from ecomflow.errors import InvalidRequestError
from ecomflow.retry import DEFAULT_RETRY, RetryPolicy
from ecomflow.stores.kinesis import (
    MAX_BYTES_PER_CALL,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_CALL,
    KinesisEntry,
    PutStats,
    put_records,
)


MAX_RECORDS = MAX_RECORDS_PER_CALL
MAX_REQUEST_BYTES = MAX_BYTES_PER_CALL
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")



@dataclass(frozen=True)
class RawRecord:
    """One validated raw record: the eight raw fields as strings (None where absent)."""

    fields: tuple[tuple[str, str | None], ...]

    @classmethod
    def of(cls, values: Mapping[str, str | None]) -> RawRecord:
        return cls(tuple((name, values.get(name)) for name in RAW_FIELDS))

    def as_dict(self) -> dict[str, str | None]:
        return dict(self.fields)

    def to_json(self) -> str:
        """The record as it travels on the stream and is kept as `raw_line` when quarantined."""
        return record_json(self.as_dict())

    @property
    def partition_key(self) -> str:
        return (self.as_dict()["InvoiceNo"] or "").strip()

    def to_entry(self) -> KinesisEntry:
        return KinesisEntry(data=self.to_json().encode("utf-8"), partition_key=self.partition_key)


def record_errors(values: Mapping[str, str | None]) -> list[str]:
    """What keeps one record's raw fields out of the stores (empty when it may be accepted): `contract.field_problems`."""
    return field_problems(dict(values))


# --- the request body: bytes, charset, JSON or CSV -----------------------------------------------

# The charsets a body may declare (Content-Type names, lower-case) and the codec that reads each.
CHARSETS: dict[str, str] = {
    "utf-8": "utf-8", "utf8": "utf-8",
    "iso-8859-1": "latin-1", "iso8859-1": "latin-1", "latin-1": "latin-1", "latin1": "latin-1",
    "us-ascii": "ascii", "ascii": "ascii",
}
MAX_JSON_DEPTH = 32  # a request is 3 deep ({"records": [{...}]}); the parser recurses once per level
MAX_NUMBER_CHARS = 100  # longer JSON number literals are refused before Python converts them
SHOWN_CHARS = 100  # an echoed value in an error message is cut after this many characters

_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads pairs valid surrogates, so any left is lone
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_PAIR = re.compile(r"[\[{][\]}]")


def media_type(content_type: str | None) -> tuple[str, str]:
    """Split a Content-Type header into (media type, charset), both lower-case; charset defaults to utf-8."""
    if not content_type:
        return "", "utf-8"
    kind, *params = [part.strip() for part in content_type.split(";")]
    charset = "utf-8"
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return kind.lower(), charset


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """`value` quoted for an error message: invisible characters escaped, cut after `limit` characters."""
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


def request_bytes(body: str | bytes | None, is_base64: bool = False) -> bytes:
    """The request body as bytes (API Gateway base64-encodes binary bodies).

    Raises:
        InvalidRequestError: 400 for a body flagged base64 that is not, or text that is not Unicode.
    """
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):  # non-ASCII text is a ValueError
            raise InvalidRequestError(400, "the body is flagged base64 but is not valid base64") from None
    if isinstance(body, bytes):
        return body
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:  # only a lone surrogate cannot be encoded
        raise InvalidRequestError(400, f"the body is not valid Unicode: a lone surrogate "
                                       f"U+{ord(body[exc.start]):04X} at character {exc.start}") from None


def _decode(data: bytes, charset: str) -> str:
    """The body's text in its declared charset; a leading UTF-8 byte order mark is dropped.

    Raises:
        InvalidRequestError: 415 for a charset other than utf-8, iso-8859-1 or us-ascii; 400 for
            bytes that are not that charset, another charset's byte order mark, or a NUL byte.
    """
    codec = CHARSETS.get(charset)
    if codec is None:
        raise InvalidRequestError(415, f"unsupported charset {shown(charset)}: use utf-8 or iso-8859-1")
    if data.startswith(codecs.BOM_UTF8):
        if codec != "utf-8":
            raise InvalidRequestError(400, f"the body starts with a UTF-8 byte order mark but is declared "
                                           f"{charset}: declare charset=utf-8 or drop the mark")
        data = data[len(codecs.BOM_UTF8):]
        if data.startswith(codecs.BOM_UTF8):
            raise InvalidRequestError(400, "the body starts with two UTF-8 byte order marks; at most one is allowed")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # the UTF-32 marks start the same
        raise InvalidRequestError(400, "the body starts with a UTF-16 or UTF-32 byte order mark: "
                                       "send utf-8 or iso-8859-1")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InvalidRequestError(400, f"the body has a NUL byte at byte {nul}: send utf-8 or iso-8859-1 text")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(400, f"the body is not valid {charset}: {exc.reason} at byte {exc.start}") from None


class _JsonValueError(ValueError):
    """A JSON value the parser refuses to build (raised from its hooks, so the message is ours)."""


class _JsonObject(dict):
    """A decoded JSON object that remembers what is wrong with its members (duplicates, lone surrogates)."""

    __slots__ = ("problems",)

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj, problems = cls(), []
        for key, value in pairs:
            if key in obj:
                problems.append(f"has the field {shown(key)} twice")
            if _SURROGATE.search(key):
                problems.append(f"has a field name with a lone surrogate, not valid Unicode: {shown(key)}")
            elif isinstance(value, str) and (bad := _SURROGATE.search(value)):
                problems.append(f"{shown(key)} has a lone surrogate U+{ord(bad.group()):04X} at character "
                                f"{bad.start()}, not valid Unicode")
            obj[key] = value
        obj.problems = problems
        return obj


def _json_number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise _JsonValueError(f"the JSON body has a number of {len(text)} characters; at most "
                              f"{MAX_NUMBER_CHARS} are accepted (send long values as strings)")
    return text


def _json_int(text: str) -> int:
    return int(_json_number(text))  # checked first: int() refuses over 4,300 digits with a bare ValueError


def _json_decimal(text: str) -> Decimal:
    try:
        return Decimal(_json_number(text))
    except InvalidOperation:  # an exponent beyond what Decimal holds, such as 1e99999999999999999999
        raise _JsonValueError(f"the JSON body has the number {shown(text)}, which is out of range") from None


def _json_constant(name: str) -> Any:
    raise _JsonValueError(f"the JSON body has {name}, which is not a JSON number")


def _json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit`, found without recursion.

    Each pass drops the innermost bracket pairs, so a structure `limit` deep is gone after `limit`
    passes; an adjacent pair still left, or more than `limit` openers never closed, is deeper.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        brackets, removed = _BRACKET_PAIR.subn("", brackets)
        if not removed:
            break
    if _BRACKET_PAIR.search(brackets):
        return True
    return len(brackets.lstrip("]}")) > limit  # what is left reads "]]...[[": openers never closed


def _json_records(text: str) -> list[Any]:
    if _json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise InvalidRequestError(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels; records are "
                                       f'flat objects in {{"records": [...]}}')
    try:
        document = json.loads(text, parse_float=_json_decimal, parse_int=_json_int, parse_constant=_json_constant,
                              object_pairs_hook=_JsonObject.of)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                                       f"column {exc.colno}") from None
    except _JsonValueError as exc:
        raise InvalidRequestError(400, str(exc)) from None
    except RecursionError:  # the depth check keeps the parser far from this; kept so nothing can crash it
        raise InvalidRequestError(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(document, dict) or "records" not in document:
        raise InvalidRequestError(400, 'the JSON body must be an object {"records": [...]}')
    if document.problems:
        raise InvalidRequestError(400, f"the JSON body {document.problems[0]}")
    records = document["records"]
    if not isinstance(records, list):
        raise InvalidRequestError(400, '"records" must be an array of objects')
    return records


def _refuse_unreadable(items: list[Any]) -> None:
    """Refuse JSON records with a field twice or a lone surrogate, naming each (before any field rule)."""
    unreadable = [{"record": index, "errors": item.problems} for index, item in enumerate(items)
                  if isinstance(item, _JsonObject) and item.problems]
    if unreadable:
        raise InvalidRequestError(400, f"{len(unreadable)} of {len(items)} records have a duplicate field or "
                                       f"text that is not valid Unicode; nothing was accepted", unreadable)


def _header_problem(header: list[str]) -> str:
    if len(header) != len(RAW_FIELDS):
        return f"it has {len(header)} columns, not {len(RAW_FIELDS)}"
    column, got, expected = next((i, h, f) for i, (h, f) in enumerate(zip(header, RAW_FIELDS), start=1)
                                 if h.lower() != f.lower())
    return f"column {column} is {shown(got)}, expected {expected!r}"


def _csv_records(text: str) -> list[Any]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for row in reader:
            if row:
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidRequestError(400, f"the CSV body does not parse at line {reader.line_num}: {exc}") from None
    if not rows:
        raise InvalidRequestError(400, f"the CSV body is empty: it needs the header {','.join(RAW_FIELDS)}")
    header = [name.strip() for name in rows[0][1]]
    if [h.lower() for h in header] != [f.lower() for f in RAW_FIELDS]:
        raise InvalidRequestError(400, f"the CSV header must be {','.join(RAW_FIELDS)}, got "
                                       f"{shown(','.join(header))}: {_header_problem(header)}")
    records: list[Any] = []
    for line_no, row in rows[1:]:
        if len(row) != len(RAW_FIELDS):
            records.append(_CsvRowError(line_no, len(row)))
        else:
            records.append(dict(zip(RAW_FIELDS, row)))
    return records


@dataclass(frozen=True)
class _CsvRowError:
    line: int
    fields: int


def parse_records(body: str | bytes | None, content_type: str | None, is_base64: bool = False) -> list[RawRecord]:
    """Parse and validate a `POST /records` body into raw records, or refuse it; never raises anything else.

    Raises:
        InvalidRequestError: 413 for more than 500 records, more than 5 MiB or a record over 1 MiB;
            415 for a content type other than JSON or CSV or a charset other than utf-8 or
            iso-8859-1; 400 for a body that does not decode or parse (bad base64, bytes not in the
            charset, a NUL byte, JSON nested deeper than 32 levels, a number over 100 characters,
            NaN, a duplicate field, a lone surrogate, a wrong CSV header) or any invalid record, with
            `errors` naming each bad record by its index (0-based) and, for CSV, its line number.
    """
    data = request_bytes(body, is_base64)
    if len(data) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(413, f"the body has {len(data)} bytes; at most {MAX_REQUEST_BYTES} "
                                       f"(5 MiB) are accepted per request")
    kind, charset = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        parse: Callable[[str], list[Any]] = _json_records
    elif kind in CSV_TYPES:
        parse = _csv_records
    else:
        raise InvalidRequestError(415, f"unsupported content type {shown(kind or '(none)')}: send application/json "
                                       f'{{"records": [...]}} or text/csv with the header {",".join(RAW_FIELDS)}')
    text = _decode(data, charset)
    if not text.strip():
        raise InvalidRequestError(400, 'the body is empty: send {"records": [...]} or a CSV header and rows')
    items = parse(text)
    if not items:
        raise InvalidRequestError(400, "the request has no records")
    if len(items) > MAX_RECORDS:
        raise InvalidRequestError(413, f"the request has {len(items)} records; at most {MAX_RECORDS} are "
                                       f"accepted per request")
    _refuse_unreadable(items)
    return validate_records(items, csv_lines=kind in CSV_TYPES)


def validate_records(items: Iterable[Any], csv_lines: bool = False) -> list[RawRecord]:
    """Validate decoded records; all or nothing.

    Raises:
        InvalidRequestError: 400 naming each bad record, or 413 for a record over 1 MiB.
    """
    records: list[RawRecord] = []
    errors: list[dict[str, Any]] = []
    too_large: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where: dict[str, Any] = {"record": index}
        if csv_lines:
            where["line"] = index + 2  # the header is line 1
        if isinstance(item, _CsvRowError):
            errors.append({**where, "errors": [f"has {item.fields} fields, expected {len(RAW_FIELDS)}"]})
            continue
        if not isinstance(item, dict):
            errors.append({**where, "errors": [f"must be an object with the fields {', '.join(RAW_FIELDS)}"]})
            continue
        try:
            values = raw_fields(item)
        except TypeError:
            bad = [k for k in RAW_FIELDS if isinstance(item.get(k), (bool, dict, list))]
            errors.append({**where, "errors": [f"{k} must be a string or a number" for k in bad]})
            continue
        problems = record_errors(values)
        if problems:
            errors.append({**where, "invoice_no": values.get("InvoiceNo"), "errors": problems})
            continue
        record = RawRecord.of(values)
        size = record.to_entry().size
        if size > MAX_RECORD_BYTES:
            too_large.append({**where, "errors": [f"is {size} bytes; at most {MAX_RECORD_BYTES} (1 MiB) per record"]})
            continue
        records.append(record)
    if too_large:
        raise InvalidRequestError(413, f"{len(too_large)} record(s) exceed the 1 MiB record limit", too_large + errors)
    if errors:
        total = len(records) + len(errors)
        raise InvalidRequestError(400, f"{len(errors)} of {total} records are invalid; nothing was accepted",
                                  errors)
    return records


def send_records(records: Iterable[RawRecord], stream_name: str, client: Any = None, *,
                 retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep) -> PutStats:
    """Put validated records on the stream, partition key InvoiceNo; failed entries are re-sent.

    Raises:
        DeliveryError: Kinesis kept refusing some records.
    """
    if client is None:
        from ecomflow import aws
        client = aws.client("kinesis")
    return put_records(client, stream_name, [r.to_entry() for r in records], retry=retry, sleep=sleep)
