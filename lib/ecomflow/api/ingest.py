"""Record ingestion behind `POST /records`: parse, validate, and put raw records on Kinesis.

A request carries raw records with the raw field names of the CSV header, either as JSON
(`{"records": [{...}, ...]}`) or as `text/csv` (header plus rows). Every record becomes the same
thing on the stream: a compact JSON object of the eight raw fields as strings, exactly as a CSV
field would hold them (absent or null fields left out, keys in header order), with partition key
InvoiceNo so an invoice's lines stay on one shard. The streaming job types and cleans them with
the batch job's transforms, so a line gets the same `record_id` whichever way it came in.

Two steps. Reading the body is done by hand, as pydantic cannot: bytes, base64, the charset, byte
order marks, the 5 MiB limit, and guards on the JSON text (nesting, number lengths, NaN, duplicate
fields, lone surrogates) or the CSV header. Then both kinds of body are validated by one pydantic
model, `IngestRequest`: 1 to 500 records (the PutRecords limits), each a `RawRecord` of the eight
fields as strings (JSON numbers taken as written; unknown keys ignored), which must pass the data
contract's field rules (`contract.field_problems`: InvoiceNo, StockCode, Quantity, InvoiceDate,
UnitPrice and Country present, Quantity a whole number, UnitPrice a decimal with at most 3
places, CustomerID digits, byte bounds). A request with a bad record is refused as a whole (400,
naming each bad record), so a producer never has to work out which half of a request was taken.
Rules of the data contract that need the job's settings (the date format, zero quantities,
negative prices) are applied by the streaming job, which quarantines such lines with a reason, as
the batch job does.

Refusals are `InvalidRequestError`s, Powertools HTTP errors (`ecomflow.api.errors`).
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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.exceptions import ServiceUnavailableError
from aws_lambda_powertools.event_handler.request import Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from ecomflow.api.errors import InvalidRequestError
from ecomflow.contract import RAW_FIELDS, field_problems, raw_text, record_json
from ecomflow.errors import DeliveryError, LimitError, SizeLimitError
from ecomflow.retry import DEFAULT_RETRY, RetryPolicy
from ecomflow.stores.kinesis import MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL, KinesisEntry, PutStats, put_records

MAX_RECORDS = MAX_RECORDS_PER_CALL
MAX_REQUEST_BYTES = MAX_BYTES_PER_CALL
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")
STREAM_UNAVAILABLE = "the stream is not accepting records right now; retry later"


# --- the model both kinds of body are validated by -------------------------------------------------

def _as_written(value: Any) -> Any:
    """A JSON number as the text a CSV field would hold (`6`, `2.550`); anything else is left to the type."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return raw_text(value)
    return value


# One raw field: a string, a JSON number as written, or absent/null. A boolean, object or array is refused.
RawText = Annotated[StrictStr | None, BeforeValidator(_as_written)]


class RawRecord(BaseModel):
    """One raw record: the eight raw fields as strings (None where absent), valid by the data contract."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    InvoiceNo: RawText = None
    StockCode: RawText = None
    Description: RawText = None
    Quantity: RawText = None
    InvoiceDate: RawText = None
    UnitPrice: RawText = None
    CustomerID: RawText = None
    Country: RawText = None

    @classmethod
    def of(cls, values: Mapping[str, str | None]) -> RawRecord:
        """A record of fields known to be raw strings, not validated (tests, benchmarks)."""
        return cls.model_construct(None, **{name: values.get(name) for name in RAW_FIELDS})

    @model_validator(mode="before")
    @classmethod
    def _readable(cls, data: Any) -> Any:
        """Refuse what the body's reader found wrong with a record, before any field rule."""
        if isinstance(data, CsvRow) and data.fields != len(RAW_FIELDS):
            raise PydanticCustomError("csv_field_count", "has {fields} fields, expected {expected}",
                                      {"fields": data.fields, "expected": len(RAW_FIELDS)})
        if isinstance(data, _JsonObject) and data.problems:
            raise PydanticCustomError("json_unreadable", "has a duplicate field or text that is not valid Unicode",
                                      {"problems": data.problems})
        return data

    @model_validator(mode="after")
    def _contract(self) -> RawRecord:
        """The data contract's field rules (`contract.field_problems`), every problem named."""
        problems = field_problems(self.as_dict())
        if problems:
            raise PydanticCustomError("data_contract", "breaks the data contract",
                                      {"problems": problems, "invoice_no": self.InvoiceNo})
        return self

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in RAW_FIELDS}

    def to_json(self) -> str:
        """The record as it travels on the stream and is kept as `raw_line` when quarantined."""
        return record_json(self.as_dict())

    @property
    def partition_key(self) -> str:
        return (self.InvoiceNo or "").strip()

    def to_entry(self) -> KinesisEntry:
        return KinesisEntry(data=self.to_json().encode("utf-8"), partition_key=self.partition_key)


class IngestRequest(BaseModel):
    """A `POST /records` body: 1 to 500 raw records (JSON `{"records": [...]}`, or the rows of a CSV body)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    records: Annotated[list[RawRecord], Field(min_length=1, max_length=MAX_RECORDS)]

    @model_validator(mode="before")
    @classmethod
    def _readable(cls, data: Any) -> Any:
        if isinstance(data, _JsonObject) and "records" in data and data.problems:
            raise PydanticCustomError("json_unreadable", "the JSON body {problem}", {"problem": data.problems[0]})
        return data


class Accepted(BaseModel):
    """The answer to an accepted request (202)."""

    accepted: int


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
    problems: list[str]

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


def _json_document(text: str) -> Any:
    """The JSON body decoded (objects as `_JsonObject`, numbers as int or Decimal), or a 400 saying why not."""
    if _json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise InvalidRequestError(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels; records are "
                                       f'flat objects in {{"records": [...]}}')
    try:
        return json.loads(text, parse_float=_json_decimal, parse_int=_json_int, parse_constant=_json_constant,
                          object_pairs_hook=_JsonObject.of)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                                       f"column {exc.colno}") from None
    except _JsonValueError as exc:
        raise InvalidRequestError(400, str(exc)) from None
    except RecursionError:  # the depth check keeps the parser far from this; kept so nothing can crash it
        raise InvalidRequestError(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from None


class CsvRow(dict):
    """One CSV row as a record's fields, with the physical line it starts on and how many fields it has."""

    __slots__ = ("line", "fields")
    line: int
    fields: int

    @classmethod
    def of(cls, line: int, row: list[str]) -> CsvRow:
        record = cls(zip(RAW_FIELDS, row, strict=False))  # a short or long row is counted, then refused
        record.line, record.fields = line, len(row)
        return record


def _header_problem(header: list[str]) -> str:
    if len(header) != len(RAW_FIELDS):
        return f"it has {len(header)} columns, not {len(RAW_FIELDS)}"
    column, got, expected = next((i, h, f) for i, (h, f) in enumerate(zip(header, RAW_FIELDS, strict=True), start=1)
                                 if h.lower() != f.lower())
    return f"column {column} is {shown(got)}, expected {expected!r}"


def _csv_records(text: str) -> list[CsvRow]:
    """The rows after a correct header (blank lines skipped), or a 400 for a body that does not parse."""
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
    return [CsvRow.of(line, row) for line, row in rows[1:]]


def parse_records(body: str | bytes | None, content_type: str | None, is_base64: bool = False) -> list[RawRecord]:
    """Parse and validate a `POST /records` body into raw records, or refuse it; never raises anything else.

    Raises:
        InvalidRequestError: 413 for more than 500 records or more than 5 MiB; 415 for a content
            type other than JSON or CSV or a charset other than utf-8 or iso-8859-1; 400 for a body
            that does not decode or parse (bad base64, bytes not in the charset, a NUL byte, JSON
            nested deeper than 32 levels, a number over 100 characters, NaN, a duplicate field, a
            lone surrogate, a wrong CSV header) or any invalid record, with `errors` naming each bad
            record by its index (0-based) and, for CSV, its line number.
    """
    data = request_bytes(body, is_base64)
    if len(data) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(413, f"the body has {len(data)} bytes; at most {MAX_REQUEST_BYTES} "
                                       f"(5 MiB) are accepted per request")
    kind, charset = media_type(content_type)
    is_csv = kind in CSV_TYPES
    if not (is_csv or kind in JSON_TYPES or kind.endswith("+json")):
        raise InvalidRequestError(415, f"unsupported content type {shown(kind or '(none)')}: send application/json "
                                       f'{{"records": [...]}} or text/csv with the header {",".join(RAW_FIELDS)}')
    text = _decode(data, charset)
    if not text.strip():
        raise InvalidRequestError(400, 'the body is empty: send {"records": [...]} or a CSV header and rows')
    document = {"records": _csv_records(text)} if is_csv else _json_document(text)
    return validate_request(document, csv_lines=is_csv).records


def request_records(request: Request) -> list[RawRecord]:
    """The records of the current `POST /records` (a Powertools dependency: `Depends(request_records)`).

    Powertools' own `Body()` cannot read this body: it decodes base64 as UTF-8 only, knows neither
    CSV nor charsets, and parses JSON without the guards above. So the body is read here and
    validated by the same model, `IngestRequest`.
    """
    event = request.resolved_event
    return parse_records(event.body, event.headers.get("content-type"), bool(event.is_base64_encoded))


def validate_request(document: Any, csv_lines: bool = False) -> IngestRequest:
    """A decoded body validated by `IngestRequest`; all or nothing.

    Raises:
        InvalidRequestError: 400 for a body of the wrong shape or naming each bad record; 413 for
            more than 500 records.
    """
    try:
        return IngestRequest.model_validate(document)
    except ValidationError as exc:
        records = document.get("records") if isinstance(document, dict) else None
        total = len(records) if isinstance(records, list) else 0
        raise _refusal(exc.errors(include_url=False, include_input=False), total, csv_lines) from None


def _record_problems(error: Mapping[str, Any]) -> list[str]:
    """What one pydantic error about one record says, in the words of the answer."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    if kind in ("data_contract", "json_unreadable"):
        return list(ctx["problems"])
    if kind == "csv_field_count":
        return [error["msg"]]
    if len(loc) == 2:  # the record itself is not an object
        return [f"must be an object with the fields {', '.join(RAW_FIELDS)}"]
    if kind == "string_type":
        return [f"{loc[2]} must be a string or a number"]
    return [f"{'.'.join(map(str, loc[2:]))}: {error['msg']}"]  # not expected: pydantic's own words


def _refusal(errors: Sequence[Mapping[str, Any]], total: int, csv_lines: bool = False) -> InvalidRequestError:
    """What `IngestRequest` refused, as the HTTP answer: the body's shape first, else every bad record.

    Records the JSON reader found unreadable (a duplicate field, a lone surrogate) are named alone,
    as no field rule applies to them; otherwise every bad record is named with all its problems.
    """
    for error in errors:
        kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
        if kind == "too_long":
            return InvalidRequestError(413, f"the request has {ctx.get('actual_length', total)} records; at most "
                                            f"{MAX_RECORDS} are accepted per request")
        if kind == "too_short":
            return InvalidRequestError(400, "the request has no records")
        if kind == "json_unreadable" and loc == ():
            return InvalidRequestError(400, f"the JSON body {ctx['problem']}")
        if loc in ((), ("records",)) and kind in ("model_type", "missing"):
            return InvalidRequestError(400, 'the JSON body must be an object {"records": [...]}')
        if loc == ("records",):
            return InvalidRequestError(400, '"records" must be an array of objects')
        if len(loc) < 2:  # not expected: every other error is about one record
            return InvalidRequestError(400, f"the request body is refused: {error['msg']}")
    problems: dict[int, list[str]] = {}
    invoice_nos: dict[int, str | None] = {}
    for error in errors:
        index = error["loc"][1]
        problems.setdefault(index, []).extend(_record_problems(error))
        if error["type"] == "data_contract":
            invoice_nos[index] = error["ctx"]["invoice_no"]

    def named(index: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"record": index}
        if csv_lines:
            entry["line"] = index + 2  # the header is line 1
        if index in invoice_nos:
            entry["invoice_no"] = invoice_nos[index]
        return {**entry, "errors": problems[index]}

    unreadable = sorted({error["loc"][1] for error in errors if error["type"] == "json_unreadable"})
    if unreadable:
        return InvalidRequestError(400, f"{len(unreadable)} of {total} records have a duplicate field or text that "
                                        f"is not valid Unicode; nothing was accepted", [named(i) for i in unreadable])
    return InvalidRequestError(400, f"{len(problems)} of {total} records are invalid; nothing was accepted",
                               [named(i) for i in sorted(problems)])


def send_records(records: Iterable[RawRecord], stream_name: str, client: Any = None, *,
                 retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep) -> PutStats:
    """Put validated records on the stream, partition key InvoiceNo; failed entries are re-sent.

    The store's errors become HTTP answers here: a record over Kinesis's 1 MiB is a 413, another
    broken limit a 400 (neither happens to a record the contract accepts: its fields are bounded
    far below), and a stream that keeps refusing records a 503.

    Raises:
        InvalidRequestError: 413 or 400 for a record that breaks a Kinesis limit.
        ServiceUnavailableError: Kinesis kept refusing some records (503; the cause is chained).
    """
    if client is None:
        from ecomflow import aws
        client = aws.client("kinesis")
    try:
        return put_records(client, stream_name, [r.to_entry() for r in records], retry=retry, sleep=sleep)
    except SizeLimitError as exc:
        raise InvalidRequestError(413, str(exc)) from exc
    except LimitError as exc:
        raise InvalidRequestError(400, str(exc)) from exc
    except DeliveryError as exc:
        raise ServiceUnavailableError(STREAM_UNAVAILABLE) from exc
