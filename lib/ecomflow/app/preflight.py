"""Checks of a job's local paths before Spark starts: the input holds data, the outputs can be written.

Only local paths (`file://` URIs and plain paths) can be checked without AWS; other URIs
(`s3://`) are left to Spark, whose errors the CLI reports in one line. No pyspark here: the
checks run before a JVM exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ecomflow.config import BatchConfig, StreamConfig
from ecomflow.errors import InputError, OutputError

# Hadoop expands these in a path (`data/*.csv`, `day={1,2}`); such a path is left to Spark.
_GLOB = re.compile(r"[*?\[\]{}\\]")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def local_path(uri: str) -> Path | None:
    """The local path of a `file://` URI or a plain path; None for any other URI (s3://, hdfs://)."""
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    return None if _SCHEME.match(uri) else Path(uri).expanduser()


def is_hidden(name: str) -> bool:
    """Whether Spark's file sources skip a file or folder of this name (HadoopFSUtils.shouldFilterOutPathName).

    Names starting with `.`, or with `_` unless they hold `=` (`_SUCCESS`, `_temporary`, `.crc`),
    and names ending in `._COPYING_` are skipped, even when the path names the file itself.
    """
    skipped = (name.startswith("_") and "=" not in name) or name.startswith(".") or name.endswith("._COPYING_")
    return skipped and not name.startswith(("_common_metadata", "_metadata"))


def data_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The files Spark reads in `folder`, and the names it skips there.

    Spark reads a folder's files and those of its `name=value` partition folders; hidden names
    (`is_hidden`) and other sub-folders are skipped.

    Raises:
        InputError: the folder cannot be listed.
    """
    found: list[Path] = []
    skipped: list[str] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise InputError(f"cannot list input folder {folder}: {exc.strerror}") from None
    for entry in entries:
        if is_hidden(entry.name):
            skipped.append(entry.name)
        elif entry.is_file():
            found.append(Path(entry.path))
        elif entry.is_dir() and "=" in entry.name:
            found.extend(data_files(Path(entry.path))[0])
        else:
            skipped.append(entry.name + "/")
    return found, skipped


def check_input(uri: str) -> None:
    """Check that a local input exists and holds a file Spark reads; other URIs and globs are not checked.

    Raises:
        InputError: the path does not exist, cannot be read, is a file Spark skips, or is a
            folder without data files (empty, or only `_SUCCESS`-like, hidden or non-partition entries).
    """
    path = local_path(uri)
    if path is None or _GLOB.search(str(path)):
        return
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if path.is_dir():
        found, skipped = data_files(path)
        if not found:
            detail = f" (skipped: {', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})" if skipped else ""
            raise InputError(f"input folder {path} holds no data files{detail}: Spark skips names starting with "
                             f"'_' or '.' and sub-folders that are not name=value partitions")
        return
    if is_hidden(path.name):
        raise InputError(f"input {path} would be read as empty: Spark skips files whose names start with "
                         f"'_' or '.'; rename it")
    if not os.access(path, os.R_OK):
        raise InputError(f"input {path} cannot be read: permission denied")


def check_writable(uri: str, what: str) -> None:
    """Check that a local output folder exists and can be written, or can be created; other URIs are not checked.

    Raises:
        OutputError: the path is a file, lies under a regular file, or its nearest existing folder
            is not writable.
    """
    path = local_path(uri)
    if path is None:
        return
    path = Path(os.path.abspath(path))
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what} {path} cannot be created: {existing} is a regular file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} cannot be written: {existing} is read-only for this user")


def check_file_writable(path_text: str, what: str) -> None:
    """Check that a local output file can be written (its folder can be); other URIs are not checked.

    Raises:
        OutputError: the path is a folder, or its folder cannot be written or created.
    """
    path = local_path(path_text)
    if path is None:
        return
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path} cannot be written: it is read-only for this user")
    check_writable(str(Path(os.path.abspath(path)).parent), f"the folder of {what}")


def check_batch_paths(config: BatchConfig) -> None:
    """The batch job's local paths: the input, the lake and the report file.

    Raises:
        InputError: the input cannot be read or holds no data files.
        OutputError: the lake or the report cannot be written.
    """
    check_input(config.input_uri)
    check_writable(config.lake_uri, "lake")
    if config.report_path:
        check_file_writable(config.report_path, "report")


def check_stream_paths(config: StreamConfig) -> None:
    """The streaming job's local paths: the lake and the checkpoint folder.

    Raises:
        OutputError: one of them cannot be written.
    """
    check_writable(config.lake_uri, "lake")
    check_writable(config.checkpoint_uri, "checkpoint location")
