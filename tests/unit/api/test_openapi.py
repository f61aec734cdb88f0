"""The OpenAPI document is valid and describes exactly the routes the Lambdas serve."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from openapi_spec_validator import validate

from ecomflow.local.api_local import load_handler  # noqa: F401 - the handlers load

ROOT = Path(__file__).resolve().parents[3]


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


def test_the_documented_id_patterns_are_the_contracts():
    from ecomflow import contract
    text = (ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8")
    patterns = set(re.findall(r'pattern: "([^"]+)"', text))
    # path and body patterns take the stock code in either case (the routes and the job upper-case it)
    assert contract.INVOICE_NO in patterns and contract.STOCK_CODE.replace("A-Z0-9", "A-Za-z0-9") in patterns
    customer = {yaml.safe_load(f'"{p}"') for p in patterns if "0-9]{1,20}" in p}
    assert customer == {contract.CUSTOMER_ID.replace("([0-9]{1,20})(?:", "[0-9]{1,20}(")}


def _path_parameters(operation: dict, doc: dict) -> list[tuple[str, str]]:
    found = []
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        if param["in"] == "path":
            found.append((param["name"], param["description"]))
    return sorted(found)


def test_the_typed_routes_declare_the_documented_path_parameters():
    import json

    from ecomflow.local.api_local import load_lambda

    doc = document()
    documented = {(method, path): _path_parameters(op, doc) for path, ops in doc["paths"].items()
                  for method, op in ops.items()}
    typed = {}
    for name in ("ingest", "query"):
        schema = json.loads(load_lambda(name).app.get_openapi_schema().model_dump_json(by_alias=True,
                                                                                       exclude_none=True))
        typed.update({(method, path): _path_parameters(op, schema) for path, ops in schema["paths"].items()
                      for method, op in ops.items()})
    assert typed == documented
