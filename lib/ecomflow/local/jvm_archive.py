"""A class-data-sharing archive for the local Spark driver: a faster JVM start, locally only.

A local run starts a JVM that loads and verifies ~20,000 classes from Spark's jars, most of them
in the first seconds and first Spark jobs of every run. JDK 13+ can record the classes a run
loaded into an archive (AppCDS, `-XX:ArchiveClassesAtExit`) that later JVMs map instead
(`-XX:SharedArchiveFile`). On the 2-core benchmark machine that took ~1 s off the JVM start and
~2 s off the first jobs of the real file (docs/benchmarks.md).

`make setup` builds the archive once (`ecomflow jvm-archive`) by running a small batch job in a
child process. The archive is used only when it is complete: a JVM crashes (SIGBUS) on a truncated
one, so it is written under a temporary name and renamed only after its JVM exited cleanly. It is
keyed by the JDK, the Spark install and version and the extra jars, so a changed classpath never maps a stale
one (the JVM would refuse it with a warning on stderr). Glue starts its own JVMs: nothing here
applies there. `ECOMFLOW_JVM_ARCHIVE=off` disables it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ENV_SWITCH = "ECOMFLOW_JVM_ARCHIVE"
ENV_DIR = "ECOMFLOW_JVM_ARCHIVE_DIR"
SAMPLE_ROWS = 3000
DUMP_TIMEOUT_S = 300


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    found = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    return os.path.realpath(found) if found else "java"


def archive_path(jars: str = "") -> Path:
    """Where the archive of this JDK, Spark version and extra jars lives."""
    import pyspark

    # The JVM checks the archive's class path: the Spark install's own path is part of the key.
    spark_home = os.path.dirname(os.path.realpath(pyspark.__file__))
    key = hashlib.sha256(f"{_java()}|{spark_home}|{pyspark.__version__}|{jars}".encode()).hexdigest()[:16]
    directory = Path(os.environ.get(ENV_DIR) or Path.home() / ".cache" / "ecomflow")
    return directory / f"spark-driver-{key}.jsa"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "on").lower() not in ("off", "0", "false", "no")


def java_options(jars: str = "") -> str:
    """`-XX:SharedArchiveFile=...` when a complete archive exists (and archives are on), else ""."""
    path = archive_path(jars)
    return f"-XX:SharedArchiveFile={path}" if enabled() and path.is_file() else ""


def build(jars: str = "", force: bool = False) -> Path | None:
    """Build the archive (in a child process) unless it exists; returns its path, None when off.

    Raises:
        RuntimeError: the child run failed or its JVM did not exit cleanly; nothing is kept.
    """
    if not enabled():
        log.info("JVM class archive is off (%s)", ENV_SWITCH)
        return None
    path = archive_path(jars)
    if path.is_file() and not force:
        log.info("JVM class archive present: %s", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial")
    env = {**os.environ, ENV_SWITCH: "off"}
    done = subprocess.run([sys.executable, "-m", "ecomflow.devtools.jvm_archive_dump", "--dump", str(partial)], env=env,
                          check=False, timeout=DUMP_TIMEOUT_S)
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"building the JVM class archive failed (exit {done.returncode})")
    partial.replace(path)
    log.info("JVM class archive written: %s (%.0f MB)", path, path.stat().st_size / 2**20)
    return path
