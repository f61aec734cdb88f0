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


def test_each_operation_asks_for_the_scopes_its_method_asks_for():
    from ecomflow.api import access

    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes["producer"]["flows"]["clientCredentials"]["scopes"]) == {access.WRITE_SCOPE, access.READ_SCOPE}
    documented = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            scopes = set()
            for requirement in op["security"]:
                for scheme, names in requirement.items():
                    # the user scheme is a person's access token: scope aws.cognito.signin.user.admin
                    scopes |= {access.USER_SCOPE} if scheme == "user" else set(names)
            documented[(method.upper(), path)] = scopes
    assert documented == {key: set(scopes) for key, scopes in access.METHOD_SCOPES.items()}


def test_every_operation_documents_the_refusals_of_the_authorizer():
    for ops in document()["paths"].values():
        for op in ops.values():
            assert {"401", "403"} <= set(op["responses"])


def test_the_documented_query_parameters_are_the_typed_routes():
    import json

    from ecomflow.api import pages
    from ecomflow.local.api_local import load_lambda

    doc = document()

    def query_parameters(operation: dict, root: dict) -> list[tuple[str, object, object]]:
        found = []
        for param in operation.get("parameters", []):
            if "$ref" in param:
                param = root["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
            if param["in"] == "query":
                schema = param["schema"]
                found.append((param["name"], schema.get("maximum", schema.get("maxLength")),
                              schema.get("default")))
        return sorted(found)

    schema = json.loads(load_lambda("query").app.get_openapi_schema().model_dump_json(by_alias=True,
                                                                                     exclude_none=True))
    typed = {}
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            params = []
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    s = param["schema"]
                    if "anyOf" in s:  # an optional string: anyOf [string, null]
                        s = next(x for x in s["anyOf"] if x.get("type") == "string")
                    params.append((param["name"], s.get("maximum", s.get("maxLength")), s.get("default")))
            typed[(method, path)] = sorted(params)
    documented = {(m, p): query_parameters(op, doc) for p, ops in doc["paths"].items() for m, op in ops.items()
                  if m == "get"}
    assert typed == documented
    assert ("limit", pages.MAX_PAGE_SIZE, pages.DEFAULT_PAGE_SIZE) in documented[("get", "/invoices/{invoice_no}")]
