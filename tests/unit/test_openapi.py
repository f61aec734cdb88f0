"""The OpenAPI document is valid and describes exactly the routes the Lambdas serve."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from openapi_spec_validator import validate

from ecomflow.api_local import load_handler  # noqa: F401 - the handlers load

ROOT = Path(__file__).resolve().parents[2]


def document() -> dict:
    return yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))


def test_openapi_document_is_valid():
    validate(document())


def test_openapi_paths_are_the_lambda_routes():
    routes = set()
    for name in ("ingest", "query"):
        source = (ROOT / "lambdas" / name / "app.py").read_text(encoding="utf-8")
        for method, path in re.findall(r'@app\.(get|post)\("([^"]+)"\)', source):
            routes.add((method, re.sub(r"<(\w+)>", r"{\1}", path)))
    documented = {(method, path) for path, ops in document()["paths"].items() for method in ops}
    assert documented == routes
