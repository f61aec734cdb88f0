"""`ecomflow replay`: post a raw CSV file to `POST /records` in batches, at a steady rate.

Stands in for the producers that "constantly pull raw CSV data". The file is read exactly as the
batch job reads it (`readers.read_raw_lines` + `transforms.parse_raw_lines`): lines split on
LF, CRLF or CR, each decoded from its own bytes (ISO-8859-1, or UTF-8 with Java's replacement of
bad bytes), a BOM at a line's start dropped, empty and header lines skipped; then each line is
checked against the same CSV grammar. So a line with an unbalanced quote is one bad line, as in
batch, and never swallows the lines after it (Python's csv module would).

A line that parses becomes a JSON record of its eight raw fields exactly as the batch job splits
them; the streaming job then curates or quarantines it as the batch job does, with the same
`record_id`. JSON rather than a `text/csv` body: the ingest API turns both into the same stream
record, but its CSV body is split by Python's csv module, which disagrees with the grammar on a
few lines (a U+2028 after a closing quote) and would fail a whole request on one bad line.

Nothing is dropped quietly: a line that is not 8 CSV fields (`malformed_csv`,
`wrong_field_count`, the batch job's reasons) is rejected without being sent, a record the API
refuses (400 or 413 naming it) is rejected with the API's errors and the rest of the batch is
sent again; `read == accepted + rejected`. Replaying a file twice duplicates nothing downstream
(lines are keyed by `record_id`).
"""

from __future__ import annotations

import bz2
import codecs
import functools
import gzip
import json
import logging
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from ecomflow.api.ingest import MAX_RECORDS, RAW_FIELDS
from ecomflow.app.preflight import check_input
from ecomflow.config import normalise_encoding
from ecomflow.contract import CSV_FIELD_AFTER_SEPARATOR, CSV_LINE, CSV_QUOTED_FIELD, python_regex
from ecomflow.errors import EcomflowError, InputError

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 4 * 1024 * 1024  # under the API's 5 MiB with room for the JSON envelope
MAX_REPORTED_LINES = 100
REFUSED = "refused_by_api"

# The batch reader's CSV grammar (ecomflow.contract; Spark's regexes read the same patterns).
_CSV_LINE = python_regex(CSV_LINE)
_CSV_FIELD_AFTER_SEPARATOR = python_regex(CSV_FIELD_AFTER_SEPARATOR)
_QUOTED = python_regex(CSV_QUOTED_FIELD)
_HEADER = ",".join(RAW_FIELDS).upper()
_JAVA_REPLACE = "ecomflow-java-replace"

# post(url, body) -> (status, decoded JSON body)
Poster = Callable[[str, bytes], tuple[int, dict[str, Any]]]


def _java_replace(error: UnicodeError) -> tuple[str, int]:
    """Replace bad UTF-8 as Java's decoder does (Spark's `decode`): like Python, but one U+FFFD for
    an encoded surrogate (ED A0..BF, and its continuation byte if there is one) where Python puts
    one per byte."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    data, start = error.object, error.start
    if data[start] == 0xED and start + 1 < len(data) and 0xA0 <= data[start + 1] <= 0xBF:
        continued = start + 2 < len(data) and 0x80 <= data[start + 2] <= 0xBF
        return "\ufffd", start + (3 if continued else 2)
    return "\ufffd", error.end


codecs.register_error(_JAVA_REPLACE, _java_replace)


@dataclass(frozen=True)
class RawLine:
    """A data line of a raw file: its number in the (decompressed) file, from 1, and its text."""

    number: int
    text: str


@dataclass
class ReplayStats:
    """What a replay did: data lines read, accepted by the API, rejected (by reason, the first lines), requests."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    requests: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    rejected_lines: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, reason: str, errors: list[str] | None = None) -> None:
        self.rejected += 1
        self.rejected_by_reason[reason] += 1
        if len(self.rejected_lines) < MAX_REPORTED_LINES:
            self.rejected_lines.append({"line": line, "reason": reason, **({"errors": errors} if errors else {})})

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "accepted": self.accepted, "rejected": self.rejected, "requests": self.requests,
                "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
                "rejected_lines": sorted(self.rejected_lines, key=lambda r: r["line"])}


def _open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed by its name as Hadoop's codecs do (`.gz`, `.bz2`)."""
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if path.name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if path.name.endswith((".deflate", ".lz4", ".snappy", ".zst")):
        raise InputError(f"replay reads plain, .gz and .bz2 files, not {path.name}")
    try:
        return path.open("rb")
    except OSError as exc:  # a name with glob characters is not checked beforehand (Spark would expand it)
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines as Hadoop's LineReader splits them: ended by LF, CRLF or a lone CR, without the ending."""
    for chunk in chunks:  # binary iteration ends each chunk at LF (or the end of the file)
        body = chunk[:-1] if chunk.endswith(b"\n") else chunk
        body = body[:-1] if chunk.endswith(b"\r\n") else body
        parts = body.split(b"\r")
        if not chunk.endswith(b"\n") and len(parts) > 1 and parts[-1] == b"":
            parts.pop()  # a CR ending the file ends the last line; no empty line follows it
        yield from parts


def read_lines(path: Path | str, encoding: str = "ISO-8859-1") -> Iterator[RawLine]:
    """The data lines of a raw file as the batch reader (`readers.read_raw_lines`) yields them.

    Each line is decoded from its own bytes; a BOM at its start is dropped; empty lines and
    header lines (anywhere in the file) are skipped.

    Raises:
        InputError: the file does not exist, is a folder, or is one Spark would skip.
        ConfigError: the encoding is not one the batch job reads.
    """
    path = Path(path)
    codec = {"ISO-8859-1": "latin-1", "UTF-8": "utf-8"}[normalise_encoding(encoding)]
    check_input(str(path))  # the batch job's own check: missing, unreadable, a hidden name
    if path.is_dir():
        raise InputError(f"replay reads one file; {path} is a folder")
    with _open_bytes(path) as raw:
        for number, data in enumerate(_split_lines(iter(raw)), start=1):
            if not data:
                continue
            text = data.decode(codec, errors=_JAVA_REPLACE)
            text = text[1:] if text.startswith("\ufeff") else text
            if not "0" <= text[:1] <= "9" and text.strip(" ").upper() == _HEADER:
                continue
            yield RawLine(number, text)


def split_line(text: str) -> tuple[dict[str, str] | None, str | None]:
    """A line's raw fields as `transforms.parse_raw_lines` splits them, or None and the batch job's reason.

    Returns:
        (the eight raw fields by name, None), or (None, "malformed_csv" | "wrong_field_count").
    """
    if '"' not in text:
        fields = text.split(",")
    elif not _CSV_LINE.match(text):
        return None, "malformed_csv"
    else:
        fields = _CSV_FIELD_AFTER_SEPARATOR.findall("," + text)
    if len(fields) != len(RAW_FIELDS):
        return None, "wrong_field_count"
    return dict(zip(RAW_FIELDS, map(_unquote, fields), strict=True)), None


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    quoted = _QUOTED.match(value)  # a field of a well-formed line always matches
    return quoted.group(1).replace('""', '"') if quoted else ""


def count_lines(path: Path | str, encoding: str = "ISO-8859-1") -> int:
    """How many data lines `read_lines` yields (the batch report's `rows_read`)."""
    return sum(1 for _ in read_lines(path, encoding))


def http_post(url: str, body: bytes, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST a JSON body (with a producer's access token, when given); the status and the decoded answer."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload or b"{}")
        except json.JSONDecodeError:
            return exc.code, {"message": payload.decode("utf-8", errors="replace")}
    except urllib.error.URLError as exc:
        raise EcomflowError(f"cannot reach the API at {url}: {exc.reason} (is `ecomflow api` running?)") from None


def _batches(lines: Iterator[RawLine], size: int,
             stats: ReplayStats) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Batches of (line number, record) to post; lines that are not 8 CSV fields are rejected here."""
    batch: list[tuple[int, dict[str, str]]] = []
    batch_bytes = 0
    for line in lines:
        stats.read += 1
        record, reason = split_line(line.text)
        if record is None:
            stats.reject(line.number, reason or "wrong_field_count")
            log.debug("line %d: %s; not sent", line.number, reason)
            continue
        record_bytes = len(json.dumps(record, ensure_ascii=False).encode("utf-8")) + 1
        if batch and (len(batch) == size or batch_bytes + record_bytes > MAX_BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((line.number, record))
        batch_bytes += record_bytes
    if batch:
        yield batch


def _send(url: str, batch: list[tuple[int, dict[str, str]]], post: Poster, stats: ReplayStats) -> None:
    """Post one batch; records the API names as bad are rejected with its errors and the rest posted again once."""
    for _ in range(2):
        stats.requests += 1
        status, body = post(url, json.dumps({"records": [r for _, r in batch]}, ensure_ascii=False).encode("utf-8"))
        if status == 202:
            stats.accepted += int(body.get("accepted", len(batch)))
            return
        named = {e["record"]: e for e in body.get("errors", [])
                 if isinstance(e.get("record"), int) and 0 <= e["record"] < len(batch)}
        if status not in (400, 413) or not named:
            raise EcomflowError(f"the API answered {status}: {body.get('message', body)}")
        for index, error in sorted(named.items()):
            line = batch[index][0]
            stats.reject(line, REFUSED, [str(e) for e in error.get("errors", [])])
            log.warning("line %d refused by the API: %s", line, error.get("errors"))
        batch = [item for i, item in enumerate(batch) if i not in named]
        if not batch:
            return
    raise EcomflowError("the API refused a batch twice")


def replay_file(path: Path | str, url: str, rate: float, batch_size: int = MAX_RECORDS,
                encoding: str = "ISO-8859-1", limit: int | None = None, progress: bool = True,
                post: Poster | None = None, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep, token: str | None = None) -> ReplayStats:
    """Post the data lines of `path` to `<url>/records`, `batch_size` a request, at about `rate` lines a second.

    `limit` replays only the first N data lines; `token` is a producer's access token (`ecomflow token
    producer` locally; `post` replaces the HTTP call). Returns the stats, with `read == accepted + rejected`.
    """
    if post is None:
        post = functools.partial(http_post, token=token)
    if rate <= 0:
        raise EcomflowError("--rate must be positive (rows per second)")
    batch_size = max(1, min(batch_size, MAX_RECORDS))
    endpoint = url.rstrip("/") + "/records"
    total = count_lines(path, encoding)
    if limit is not None:
        total = min(total, limit)
    lines = read_lines(path, encoding)
    if limit is not None:
        lines = (line for i, line in zip(range(limit), lines, strict=False))
    stats = ReplayStats()
    started = clock()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                  TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("replay", total=total, rate="")
        for batch in _batches(iter(lines), batch_size, stats):
            _send(endpoint, batch, post, stats)
            bar.update(task, completed=stats.read, rate=f"{stats.accepted} accepted, {stats.rejected} rejected")
            ahead = stats.read / rate - (clock() - started)  # pace to `rate` lines a second
            if ahead > 0:
                sleep(ahead)
        bar.update(task, completed=stats.read)
    if stats.read != stats.accepted + stats.rejected:  # the API accepted a different count than it was sent
        raise EcomflowError(f"replay of {path} does not add up: {stats.to_dict()}")
    if stats.rejected:
        log.warning("replay of %s: %d of %d lines rejected: %s", path, stats.rejected, stats.read,
                    dict(stats.rejected_by_reason))
    log.info("replay of %s: %s", path, stats.to_dict())
    return stats
