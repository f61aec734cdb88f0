#!/usr/bin/env python3
"""Build the local Apache Iceberg Spark runtime from packages alone (PyPI wheel + Debian jarjar).

Maven is not reachable from our machines, so the Iceberg 1.10.2 Spark 3.5 / Scala 2.12 runtime
comes from the Apache-2.0 PyPI wheel `snowpark-connect-deps-iceberg==1.0.3`. Its runtime jar has
the shaded Jackson packages (`org.apache.iceberg.shaded.com.fasterxml.jackson.*`) stripped: the
first table operation fails with `NoClassDefFoundError: ...jackson/core/JsonFactoryBuilder`. This
script relocates pyspark's own Jackson 2.15.2 jars (core, databind, annotations, datatype-jsr310)
to that package with Debian's jarjar (`libjarjar-java`) into one small jar beside it.

    python scripts/build_iceberg_jars.py [--cache DIR] [--check]

The jars go to `${ECOMFLOW_CACHE:-~/.cache/ecomflow}/iceberg/1.10.2/` with a manifest.json of
their sha256. A run whose jars are present with the recorded hashes does nothing. A build is
written in a temporary folder that is renamed into place (under a lock), so a concurrent run never
sees half a jar. `--check` only verifies and prints the two jars, comma-separated (a `--jars`
value). Exit 0: done; 2: something is missing (one line says what and how to get it); 1: a
download or a jar is not what was pinned. Standard library only (plus pip and java, run as tools).
AWS Glue 5.1 brings its own Iceberg 1.10.0 (`--datalake-formats iceberg`): none of this ships.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ICEBERG_VERSION = "1.10.2"
WHEEL_NAME = "snowpark-connect-deps-iceberg"
WHEEL_VERSION = "1.0.3"
WHEEL_FILE = "snowpark_connect_deps_iceberg-1.0.3-py3-none-any.whl"
WHEEL_SHA256 = "4f280e3677ab8d3a89f16647fc392ab2a3d48369f0c48873fe07bc1e74e06ffc"
RUNTIME_JAR = "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"
RUNTIME_MEMBER = f"snowpark_connect_deps_iceberg/jars/{RUNTIME_JAR}"
RUNTIME_SHA256 = "5b30080c7bbbced0fb0900894b7ea0200b1bbb2e4c355ebe727baafaf49c16f6"

JACKSON_VERSION = "2.15.2"  # pyspark 3.5.6's own (its jars/ folder)
# Every artifact the runtime's classes reference under the stripped package (found by scanning the
# runtime's class files): annotations are used as values (JsonInclude.Include, PropertyAccessor),
# jsr310's JavaTimeModule by the shaded Arrow's ObjectMapperFactory.
JACKSON_ARTIFACTS = ("jackson-core", "jackson-databind", "jackson-annotations", "jackson-datatype-jsr310")
SHADED_JAR = f"iceberg-jackson-shaded-{JACKSON_VERSION}.jar"
JARJAR_RULE = "rule com.fasterxml.jackson.** org.apache.iceberg.shaded.com.fasterxml.jackson.@1"

ENV_CACHE = "ECOMFLOW_CACHE"
ENV_JARJAR = "ECOMFLOW_JARJAR"
DEFAULT_JARJAR = "/usr/share/java/jarjar.jar"  # Debian's libjarjar-java (1.4, ASM embedded); no bin/ wrapper
MANIFEST = "manifest.json"
ZIP_EPOCH = (1980, 2, 1, 0, 0, 0)  # fixed entry times: the same inputs give the same shaded jar

EXIT_MISSING = 2
EXIT_MISMATCH = 1


class Missing(Exception):
    """A tool or input is absent; the message says what and how to get it (exit 2)."""


class Mismatch(Exception):
    """A download or jar is not what was pinned (exit 1)."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache() -> Path:
    base = os.environ.get(ENV_CACHE) or str(Path.home() / ".cache" / "ecomflow")
    return Path(base).expanduser() / "iceberg" / ICEBERG_VERSION


def verify(target: Path) -> list[Path]:
    """The two jars of a complete build in `target`, checked against its manifest and the pins.

    Raises:
        Missing: no build there, or one whose files or hashes do not match.
    """
    manifest_path = target / MANIFEST
    if not manifest_path.is_file():
        raise Missing(f"no Iceberg jars in {target}: run `make iceberg-jars` (python scripts/build_iceberg_jars.py)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        recorded = manifest["jars"]
        pinned = manifest["wheel"]["sha256"] == WHEEL_SHA256 and recorded[RUNTIME_JAR] == RUNTIME_SHA256
        jars = [target / RUNTIME_JAR, target / SHADED_JAR]
        expected = [recorded[RUNTIME_JAR], recorded[SHADED_JAR]]
    except (ValueError, KeyError, TypeError):
        pinned, jars, expected = False, [], []
    if not pinned:
        raise Missing(f"the Iceberg jars in {target} are from another or a broken build: "
                      "run `make iceberg-jars` (python scripts/build_iceberg_jars.py)")
    for jar, digest in zip(jars, expected, strict=True):
        if not jar.is_file() or sha256(jar) != digest:
            raise Missing(f"{jar} is missing or changed since it was built: "
                          "run `make iceberg-jars` (python scripts/build_iceberg_jars.py)")
    return jars


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise Missing("no java to run jarjar: apt-get install openjdk-17-jre-headless (or `make os-deps`)")
    return java


def find_jarjar(option: str | None) -> Path:
    jarjar = Path(option or os.environ.get(ENV_JARJAR) or DEFAULT_JARJAR)
    if not jarjar.is_file():
        raise Missing(f"no jarjar at {jarjar}: apt-get install libjarjar-java (or `make os-deps`)")
    return jarjar


def find_jackson_jars(python: str) -> list[Path]:
    """pyspark's Jackson jars as installed for `python`, checked to be the pinned 2.15.2."""
    probe = "import importlib.util as u; s = u.find_spec('pyspark'); print(s.origin if s and s.origin else '')"
    try:
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise Missing(f"cannot run {python} ({exc.strerror}): pass --python with the project's venv python") from exc
    origin = found.stdout.strip()
    if found.returncode != 0 or not origin:
        raise Missing(f"no pyspark for {python}: pip install pyspark==3.5.6 (or `make setup`)")
    jars_dir = Path(origin).parent / "jars"
    jars = []
    for artifact in JACKSON_ARTIFACTS:
        jar = jars_dir / f"{artifact}-{JACKSON_VERSION}.jar"
        if not jar.is_file():
            present = sorted(p.name for p in jars_dir.glob(f"{artifact}-[0-9]*.jar")) or ["none"]
            raise Missing(f"pyspark at {jars_dir.parent} has {', '.join(present)}, not {jar.name}: "
                          "this build is pinned to pyspark==3.5.6's Jackson 2.15.2 (pip install pyspark==3.5.6)")
        jars.append(jar)
    return jars


def download_wheel(python: str, into: Path) -> Path:
    """The pinned wheel, by pip (its cache makes a rebuild cheap), checked against WHEEL_SHA256."""
    command = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-q", "-d", str(into), f"{WHEEL_NAME}=={WHEEL_VERSION}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Missing(f"cannot run pip download of {WHEEL_NAME}=={WHEEL_VERSION} ({exc}); "
                      "needs PyPI reachable") from exc
    wheel = into / WHEEL_FILE
    if done.returncode != 0 or not wheel.is_file():
        said = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        if "No module named pip" in (done.stderr or ""):
            raise Missing(f"{python} has no pip: {python} -m ensurepip (or `make setup`)")
        last = said[-1] if said else "no output"
        raise Missing(f"pip could not download {WHEEL_NAME}=={WHEEL_VERSION} (pip: {last}); "
                      "needs PyPI (or PIP_INDEX_URL) reachable")
    actual = sha256(wheel)
    if actual != WHEEL_SHA256:
        raise Mismatch(f"{WHEEL_FILE} has sha256 {actual}, pinned {WHEEL_SHA256}: not the reviewed wheel, not used")
    return wheel


def extract_runtime(wheel: Path, into: Path) -> Path:
    out = into / RUNTIME_JAR
    with zipfile.ZipFile(wheel) as archive, archive.open(RUNTIME_MEMBER) as source, open(out, "wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    actual = sha256(out)
    if actual != RUNTIME_SHA256:
        raise Mismatch(f"{RUNTIME_JAR} in the wheel has sha256 {actual}, pinned {RUNTIME_SHA256}")
    return out


def merge_jackson(jars: list[Path], out: Path) -> None:
    """One input jar for jarjar (it takes one): the classes, and each artifact's license texts.

    Left out: manifests, module-info (a relocated jar is no Jackson module), META-INF/versions
    (Java 11+ variants of the base classes; jarjar would rename them onto the base entries),
    services (they name unshaded classes) and Maven metadata.
    """
    seen: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as merged:
        for jar in jars:
            artifact = jar.name[: -len(f"-{JACKSON_VERSION}.jar")]
            with zipfile.ZipFile(jar) as source:
                for entry in source.infolist():
                    name = entry.filename
                    if name.endswith("/") or name.endswith("module-info.class"):
                        continue
                    if name.startswith("META-INF/"):
                        base = name[len("META-INF/"):]
                        if "/" in base or not ("LICENSE" in base or "NOTICE" in base):
                            continue
                        name = f"META-INF/licenses/{artifact}/{base}"
                    if name in seen:
                        raise Mismatch(f"{jar.name} and another Jackson jar both hold {name}")
                    seen.add(name)
                    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    merged.writestr(info, source.read(entry))


def shade(java: str, jarjar: Path, jars: list[Path], work: Path) -> Path:
    merged = work / "jackson-merged.jar"
    merge_jackson(jars, merged)
    rules = work / "rules.txt"
    rules.write_text(JARJAR_RULE + "\n", encoding="utf-8")
    out = work / SHADED_JAR
    done = subprocess.run([java, "-jar", str(jarjar), "process", str(rules), str(merged), str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not out.is_file():
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise Mismatch(f"jarjar failed (exit {done.returncode}): {said[-1] if said else 'no output'}")
    with zipfile.ZipFile(out) as shaded:
        names = shaded.namelist()
    stray = [n for n in names if n.endswith(".class") and not n.startswith("org/apache/iceberg/shaded/com/fasterxml/")]
    if stray or "org/apache/iceberg/shaded/com/fasterxml/jackson/core/JsonFactoryBuilder.class" not in names:
        raise Mismatch(f"jarjar's output is not the relocated Jackson (first stray class: {stray[:1]})")
    merged.unlink()
    rules.unlink()
    return out


@contextlib.contextmanager
def build_lock(target: Path):
    """One build at a time per cache folder (a second run waits, then finds it done)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(target: Path, python: str, jarjar_option: str | None) -> str:
    """Build into `target` unless it is already complete; returns the one line saying what happened."""
    with contextlib.suppress(Missing):
        verify(target)
        return f"iceberg-jars: up to date in {target}"
    # The tools first: a missing one is reported before a 77 MB download.
    java = find_java()
    jarjar = find_jarjar(jarjar_option)
    jackson = find_jackson_jars(python)
    with build_lock(target):
        with contextlib.suppress(Missing):
            verify(target)
            return f"iceberg-jars: up to date in {target} (built by a concurrent run)"
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            with tempfile.TemporaryDirectory(prefix="iceberg-wheel-") as download:
                wheel = download_wheel(python, Path(download))
                runtime = extract_runtime(wheel, staging)
            shaded = shade(java, jarjar, jackson, staging)
            manifest = {
                "iceberg": ICEBERG_VERSION,
                "wheel": {"name": WHEEL_NAME, "version": WHEEL_VERSION, "file": WHEEL_FILE, "sha256": WHEEL_SHA256},
                "jars": {runtime.name: RUNTIME_SHA256, shaded.name: sha256(shaded)},
                "jackson_inputs": {jar.name: sha256(jar) for jar in jackson},
                "jarjar": {"jar": str(jarjar), "rule": JARJAR_RULE},
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            staging.chmod(0o755)  # mkdtemp's 0700 is for while it is half-built
            if target.exists():  # a stale or broken build: moved aside, never overwritten in place
                stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale-", dir=target.parent))
                target.rename(stale / target.name)
                shutil.rmtree(stale, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return (f"iceberg-jars: built {RUNTIME_JAR} + {SHADED_JAR} (sha256 {manifest['jars'][SHADED_JAR][:12]}) "
            f"in {target} in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path,
                        help=f"folder of the jars (default ${ENV_CACHE}/iceberg/{ICEBERG_VERSION}, "
                        f"${ENV_CACHE} defaulting to ~/.cache/ecomflow)")
    parser.add_argument("--check", action="store_true", help="only verify; print the two jars comma-separated")
    parser.add_argument("--python", default=sys.executable,
                        help="the python whose pyspark's Jackson jars are used and whose pip downloads "
                        "(default: this one)")
    parser.add_argument("--jarjar", help=f"jarjar's jar (default ${ENV_JARJAR} or {DEFAULT_JARJAR})")
    args = parser.parse_args(argv)
    target = (args.cache.expanduser() if args.cache else default_cache()).absolute()
    try:
        if args.check:
            print(",".join(str(jar) for jar in verify(target)))
        else:
            print(build(target, args.python, args.jarjar))
    except Missing as exc:
        print(f"iceberg-jars: {exc}", file=sys.stderr)
        return EXIT_MISSING
    except Mismatch as exc:
        print(f"iceberg-jars: {exc}", file=sys.stderr)
        return EXIT_MISMATCH
    return 0


if __name__ == "__main__":
    sys.exit(main())
