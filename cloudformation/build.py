"""Build the deployable artifacts of EcomFlow into dist/ (`make package` runs `build.py all`).

dist/
  artifacts/                 uploaded as-is to s3://<ArtifactBucket>/<ArtifactPrefix>/
    ecomflow-<v>-py3-none-any.whl   the library (Glue --extra-py-files)
    ecomflow.zip                     the library as spark-submit --py-files takes it (EMR, any cluster)
    jobs/*.py                        the Glue job scripts
    lambdas/<name>.zip               one zip per lambdas/<name>/app.py: handler + ecomflow + its requirements
  cloudformation/*.yaml      the templates; analytics.yaml gains one AWS::Athena::NamedQuery per
                             lib/ecomflow/sql/athena/*.sql (rendered as JSON, which is YAML too)
  ARTIFACT_PREFIX            artifacts/<content hash>: a new prefix whenever the code changes
  WHEEL                      the wheel's file name

The named queries exist only in the rendered template, never as a copy in a source file, so they
cannot drift from the SQL files `ecomflow query NAME` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "cloudformation"
SQL_DIR = ROOT / "lib" / "ecomflow" / "sql" / "athena"
ANALYTICS = "analytics.yaml"
# Fixed zip timestamps (1980-01-01, the zip epoch): the same sources give the same bytes, so an
# unchanged build keeps its artifact prefix and CloudFormation sees no change.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SOURCE_DATE_EPOCH = "315532800"
# Third-party packages bundled into each Lambda zip unless lambdas/<name>/requirements.txt says
# otherwise; versions are taken from requirements.lock so the zip runs what the tests ran. Powertools
# and pydantic (the routes' validation) with what they require; the Lambda runtime has boto3 and its
# own requirements (jmespath among them). pydantic_core is a binary wheel: LAMBDA_PLATFORM picks
# Lambda's (manylinux2014_x86_64, CPython 3.11).
DEFAULT_LAMBDA_PACKAGES = ("aws_lambda_powertools", "fastjsonschema", "pydantic", "pydantic_core", "annotated_types",
                           "typing_extensions", "typing_inspection")
LAMBDA_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp",
                   "--python-version", "3.11", "--only-binary=:all:")


# ----------------------------------------------------------------------------- templates

class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long form."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Load a YAML (or JSON) CloudFormation template, short tags expanded to their long form."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (safe loader subclass)


def sql_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    """The Athena SQL files, sorted by name (an absent folder has none)."""
    return sorted(sql_dir.glob("*.sql")) if sql_dir.is_dir() else []


def logical_id(sql_file: Path) -> str:
    """`monthly_revenue.sql` -> `NamedQueryMonthlyRevenue` (CloudFormation ids are alphanumeric)."""
    words = re.split(r"[^A-Za-z0-9]+", sql_file.stem)
    return "NamedQuery" + "".join(word[:1].upper() + word[1:] for word in words if word)


def named_queries(sql_dir: Path = SQL_DIR) -> dict[str, dict[str, Any]]:
    """One AWS::Athena::NamedQuery per SQL file, its QueryString the file's exact text.

    Raises:
        ValueError: two files map to the same logical id, or a file is not UTF-8 text.
    """
    resources: dict[str, dict[str, Any]] = {}
    for path in sql_files(sql_dir):
        rid = logical_id(path)
        if rid in resources:
            raise ValueError(f"{path.name}: logical id {rid} is taken by another SQL file; rename one")
        resources[rid] = {
            "Type": "AWS::Athena::NamedQuery",
            "Properties": {
                "Name": path.stem,
                "Description": f"lib/ecomflow/sql/athena/{path.name} (ecomflow query {path.stem})",
                "Database": {"Ref": "DatabaseName"},
                "WorkGroup": {"Ref": "WorkGroup"},
                "QueryString": path.read_bytes().decode("utf-8"),
            },
        }
    return resources


def render_analytics(source: Path, sql_dir: Path = SQL_DIR) -> dict[str, Any]:
    """The analytics template with the named queries of `sql_dir` added."""
    template = load_template(source)
    queries = named_queries(sql_dir)
    clash = sorted(set(queries) & set(template["Resources"]))
    if clash:
        raise ValueError(f"named-query ids clash with resources of {source.name}: {clash}")
    template["Resources"].update(queries)
    return template


def render_templates(out_dir: Path, sql_dir: Path = SQL_DIR, src_dir: Path = TEMPLATES) -> list[Path]:
    """Write every template of `src_dir` to `out_dir`, the analytics one with its named queries."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(src_dir.glob("*.yaml")):
        target = out_dir / source.name
        if source.name == ANALYTICS:
            text = json.dumps(render_analytics(source, sql_dir), indent=2, ensure_ascii=False) + "\n"
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        written.append(target)
    return written


# ----------------------------------------------------------------------------- code artifacts

def build_wheel(out_dir: Path) -> Path:
    """Build the library wheel (no dependencies: Glue has Spark; the rest come from
    --additional-python-modules)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("ecomflow-*.whl"):
        old.unlink()
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir), str(ROOT)],
                   check=True, env=env)
    (wheel,) = out_dir.glob("ecomflow-*.whl")
    return wheel


def build_py_files(out_dir: Path) -> Path:
    """Zip the `ecomflow` package as Spark's `--py-files` (and Glue's `--extra-py-files`) take it.

    spark-submit puts a .zip (not a .whl) on every executor's Python path; this is how a
    cluster's executors get the library (the launch test starts the jobs with it).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "ecomflow.zip"
    with zipfile.ZipFile(target, "w") as archive:
        _add_tree(archive, ROOT / "lib" / "ecomflow", "ecomflow/")
    return target


def copy_jobs(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for script in sorted((ROOT / "jobs").glob("*.py")):
        shutil.copyfile(script, out_dir / script.name)
        copied.append(out_dir / script.name)
    return copied


def _lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[re.sub(r"[-_.]+", "_", name.lower())] = f"{name}=={version}"
    return pins


def lambda_requirements(handler_dir: Path) -> list[str]:
    """Requirements of one Lambda: its requirements.txt, else the default packages pinned by the lock."""
    own = handler_dir / "requirements.txt"
    if own.exists():
        return ["-r", str(own)]
    pins = _lock_pins()
    return [pins[name] for name in DEFAULT_LAMBDA_PACKAGES if name in pins]


def _add_tree(archive: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        info = zipfile.ZipInfo(f"{prefix}{path.relative_to(folder).as_posix()}", date_time=ZIP_DATE)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())


def build_lambda(handler_dir: Path, out_dir: Path) -> Path:
    """Zip one Lambda: its folder at the root (handler `app.handler`), the ecomflow package, and its
    requirements installed for Lambda's platform (python3.11, x86_64)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{handler_dir.name}.zip"
    with tempfile.TemporaryDirectory() as tmp:
        deps = Path(tmp)
        requirements = lambda_requirements(handler_dir)
        if requirements:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(deps),
                            *LAMBDA_PLATFORM, *requirements], check=True)
        with zipfile.ZipFile(target, "w") as archive:
            _add_tree(archive, deps, "")
            _add_tree(archive, ROOT / "lib" / "ecomflow", "ecomflow/")
            _add_tree(archive, handler_dir, "")
    return target


def build_lambdas(out_dir: Path) -> list[Path]:
    return [build_lambda(folder, out_dir) for folder in sorted((ROOT / "lambdas").iterdir())
            if (folder / "app.py").is_file()]


def content_hash(folder: Path) -> str:
    """A short hash of every file under `folder` (paths and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def referenced_artifacts(src_dir: Path = TEMPLATES) -> list[str]:
    """Paths under ArtifactPrefix that the templates point at (`jobs/x.py`, `lambdas/x.zip`)."""
    found = set()
    for source in sorted(src_dir.glob("*.yaml")):
        found.update(re.findall(r"\$\{ArtifactPrefix\}/((?:jobs|lambdas)/[\w.-]+)", source.read_text(encoding="utf-8")))
    return sorted(found)


def missing_artifacts(dist: Path) -> list[str]:
    """Referenced artifacts that the build did not produce (a job script or Lambda not written yet)."""
    return [rel for rel in referenced_artifacts() if not (dist / "artifacts" / rel).is_file()]


def build_all(dist: Path) -> None:
    artifacts = dist / "artifacts"
    if artifacts.exists():
        shutil.rmtree(artifacts)
    wheel = build_wheel(artifacts)
    build_py_files(artifacts)
    copy_jobs(artifacts / "jobs")
    lambdas = build_lambdas(artifacts / "lambdas")
    render_templates(dist / "cloudformation")
    prefix = f"artifacts/{content_hash(artifacts)}"
    (dist / "ARTIFACT_PREFIX").write_text(prefix + "\n", encoding="utf-8")
    (dist / "WHEEL").write_text(wheel.name + "\n", encoding="utf-8")
    print(f"wheel    {wheel.relative_to(ROOT)}")
    print(f"jobs     {', '.join(p.name for p in sorted((artifacts / 'jobs').glob('*.py')))}")
    print(f"lambdas  {', '.join(p.name for p in lambdas) or '(none yet)'}")
    print(f"queries  {', '.join(p.stem for p in sql_files()) or '(no Athena SQL files yet)'}")
    print(f"prefix   {prefix}")
    for rel in missing_artifacts(dist):
        print(f"WARNING  the templates deploy {rel}, which is not built (its source does not exist yet)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["all", "templates", "check"],
                        help="build everything, only the templates, or check a build is complete")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--sql-dir", type=Path, default=SQL_DIR)
    args = parser.parse_args(argv)
    if args.what == "check":
        missing = missing_artifacts(args.dist.resolve())
        for rel in missing:
            print(f"cannot deploy: {rel} is referenced by the templates but not in {args.dist}/artifacts",
                  file=sys.stderr)
        return 1 if missing else 0
    if args.what == "templates":
        for path in render_templates(args.dist / "cloudformation", args.sql_dir):
            print(path)
    else:
        build_all(args.dist.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
