"""Benchmark inputs: the real file (x1) and copies of it replicated N times (x10, x30).

Copy k > 0 of every line gets its invoice number shifted (`536365` -> `k536365`, `C536379` ->
`Ck536379`), so lines stay distinct across copies while line types, dates (partitions), dirt and
the in-copy duplicates are those of the real file: an xN file has N times the rows, N times the
duplicates and the same 13 partitions. Files are gzip-compressed like the real one and written to a
scratch folder outside the repository, reused when present.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchInput:
    """One input file of a size."""

    size: int
    path: str
    rows: int
    bytes: int


def shift_invoice(line: bytes, copy: int) -> bytes:
    """The line with the invoice number (first field) of copy `copy`; copy 0 is the line itself."""
    if copy == 0:
        return line
    tag = str(copy).encode()
    if line[:1] in (b"C", b"A"):
        return line[:1] + tag + line[1:]
    return tag + line


def read_lines(source: Path) -> tuple[bytes, list[bytes]]:
    """The header and the data lines (with their line endings) of a gzip or plain CSV file."""
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    return lines[0], [line for line in lines[1:] if line.strip()]


def replicate(source: Path, copies: int, target: Path) -> int:
    """Write `copies` shifted copies of `source` to `target` (gzip); return the data row count."""
    header, lines = read_lines(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    # gzip in its own process: compression runs on the second core while Python builds the lines.
    with open(partial, "wb") as raw, subprocess.Popen(["gzip", "-1", "-c"], stdin=subprocess.PIPE,
                                                      stdout=raw) as gz:
        assert gz.stdin is not None
        gz.stdin.write(header)
        for copy in range(copies):
            gz.stdin.write(b"".join(shift_invoice(line, copy) for line in lines))
        gz.stdin.close()
        if gz.wait() != 0:
            raise RuntimeError(f"gzip failed writing {target}")
    os.replace(partial, target)
    return copies * len(lines)


def count_rows(path: Path) -> int:
    return len(read_lines(path)[1])


def build_inputs(source: Path, sizes: list[int], scratch: Path) -> dict[int, BenchInput]:
    """The input of each size: `source` itself for 1, a replicated file in `scratch` otherwise.

    A manifest next to the files records rows per file, so a present file is reused without
    reading it again (delete the scratch folder to rebuild).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    manifest_path = scratch / "inputs.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    source = source.resolve()
    inputs: dict[int, BenchInput] = {}
    for size in sizes:
        path = source if size == 1 else scratch / f"{source.name.split('.')[0]}-x{size}.csv.gz"
        key = f"{source}:{size}"
        entry = manifest.get(key)
        if entry is None or not path.exists() or path.stat().st_size != entry["bytes"]:
            if size == 1:
                rows = count_rows(path)
            else:
                log.info("building x%d input %s", size, path)
                rows = replicate(source, size, path)
            entry = {"rows": rows, "bytes": path.stat().st_size}
            manifest[key] = entry
            manifest_path.write_text(json.dumps(manifest, indent=2))
        inputs[size] = BenchInput(size=size, path=str(path), rows=entry["rows"], bytes=entry["bytes"])
    return inputs


def describe(inputs: dict[int, BenchInput]) -> dict[str, dict]:
    return {f"x{size}": asdict(item) for size, item in sorted(inputs.items())}
