"""`ecomflow replay`: post a raw CSV file to `POST /records` in batches, at a steady rate.

Stands in for the producers that "constantly pull raw CSV data". Each CSV row becomes a JSON
record with the raw field names and the fields exactly as written. Rows the API refuses are not
dropped quietly: a row with the wrong number of fields is reported without being sent, and when
the API answers 400 naming bad records, those are reported and the rest of the batch is sent
again. Replaying a file twice duplicates nothing downstream (lines are keyed by `record_id`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ecomflow.errors import EcomflowError, InputError
from ecomflow.ingest import MAX_RECORDS, RAW_FIELDS

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 4 * 1024 * 1024  # under the API's 5 MiB with room for the JSON envelope

# post(url, body) -> (status, decoded JSON body)
Poster = Callable[[str, bytes], tuple[int, dict[str, Any]]]


@dataclass
class ReplayStats:
    """What a replay did: rows read, accepted by the API, rejected (with line numbers), requests sent."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    requests: int = 0
    rejected_lines: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "accepted": self.accepted, "rejected": self.rejected, "requests": self.requests,
                "rejected_lines": self.rejected_lines[:100]}


def _open_text(path: Path, encoding: str) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig" if encoding.upper().startswith("UTF") else encoding,
                            newline="")


def read_rows(path: Path | str, encoding: str = "ISO-8859-1") -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line number, raw record) per data row; None for a row without 8 fields. The header is skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot read {path}: no such file")
    with _open_text(path, encoding) as handle:
        reader = csv.reader(handle)
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if [c.strip().lower() for c in row] == [f.lower() for f in RAW_FIELDS]:
                continue
            yield line, dict(zip(RAW_FIELDS, row)) if len(row) == len(RAW_FIELDS) else None


def count_rows(path: Path | str, encoding: str = "ISO-8859-1") -> int:
    return sum(1 for _ in read_rows(path, encoding))


def http_post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
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


def _batches(rows: Iterator[tuple[int, dict[str, str] | None]], size: int,
             stats: ReplayStats) -> Iterator[list[tuple[int, dict[str, str]]]]:
    batch: list[tuple[int, dict[str, str]]] = []
    batch_bytes = 0
    for line, record in rows:
        stats.read += 1
        if record is None:
            stats.rejected += 1
            stats.rejected_lines.append(line)
            log.warning("line %d does not have %d fields; not sent", line, len(RAW_FIELDS))
            continue
        record_bytes = len(json.dumps(record, ensure_ascii=False).encode("utf-8")) + 1
        if batch and (len(batch) == size or batch_bytes + record_bytes > MAX_BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((line, record))
        batch_bytes += record_bytes
    if batch:
        yield batch


def _send(url: str, batch: list[tuple[int, dict[str, str]]], post: Poster, stats: ReplayStats) -> None:
    """Post one batch; records the API names as bad are reported and the rest posted again once."""
    for _ in range(2):
        stats.requests += 1
        status, body = post(url, json.dumps({"records": [r for _, r in batch]}, ensure_ascii=False).encode("utf-8"))
        if status == 202:
            stats.accepted += int(body.get("accepted", len(batch)))
            return
        named = {e["record"] for e in body.get("errors", []) if isinstance(e.get("record"), int)}
        if status != 400 or not named:
            raise EcomflowError(f"the API answered {status}: {body.get('message', body)}")
        for index in sorted(named):
            line = batch[index][0]
            stats.rejected += 1
            stats.rejected_lines.append(line)
            log.warning("line %d refused by the API: %s", line,
                        next(e["errors"] for e in body["errors"] if e.get("record") == index))
        batch = [item for i, item in enumerate(batch) if i not in named]
        if not batch:
            return
    raise EcomflowError("the API refused a batch twice")


def replay_file(path: Path | str, url: str, rate: float, batch_size: int = MAX_RECORDS,
                encoding: str = "ISO-8859-1", limit: int | None = None, progress: bool = True,
                post: Poster = http_post, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    """Post the rows of `path` to `<url>/records`, `batch_size` a request, at about `rate` rows a second."""
    if rate <= 0:
        raise EcomflowError("--rate must be positive (rows per second)")
    batch_size = max(1, min(batch_size, MAX_RECORDS))
    endpoint = url.rstrip("/") + "/records"
    total = count_rows(path, encoding)
    if limit is not None:
        total = min(total, limit)
    rows = read_rows(path, encoding)
    if limit is not None:
        rows = (row for i, row in enumerate(rows) if i < limit)
    stats = ReplayStats()
    started = clock()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                  TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("replay", total=total, rate="")
        for batch in _batches(iter(rows), batch_size, stats):
            _send(endpoint, batch, post, stats)
            bar.update(task, completed=stats.read, rate=f"{stats.accepted} accepted, {stats.rejected} rejected")
            ahead = stats.read / rate - (clock() - started)  # pace to `rate` rows a second
            if ahead > 0:
                sleep(ahead)
        bar.update(task, completed=stats.read)
    log.info("replay of %s: %s", path, stats.to_dict())
    return stats
