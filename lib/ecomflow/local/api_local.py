"""`ecomflow api`: the real ingest and query Lambda handlers served over HTTP on 127.0.0.1.

moto cannot invoke Lambda without Docker, so this adapter plays API Gateway's REST proxy
integration: it turns each HTTP request into the proxy event API Gateway would send
(`proxy_event`), calls the handler of `lambdas/<name>/app.py` with a Lambda context, and turns the
returned proxy response back into HTTP. Routing follows the methods of cloudformation/api.yaml:
`POST /records` goes to the ingest Lambda, the three GETs to the query Lambda, anything else is
API Gateway's 403 `Missing Authentication Token`. Each method sits behind the authorizer, by
default API Gateway's Cognito user pool authorizer over the local stack's pools
(`ecomflow.local.cognito_local`): a request without a valid token gets its 401 or 403 and no
Lambda runs; a valid one reaches the Lambda with the token's claims in
`requestContext.authorizer.claims`.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ecomflow.api import access
from ecomflow.local.cognito_local import GatewayRefusal, local_access
from ecomflow.local.home import project_root

log = logging.getLogger(__name__)

LAMBDAS = project_root() / "lambdas"
HOST = "127.0.0.1"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit: larger requests never reach a Lambda
Handler = Callable[[dict, Any], dict]
# The methods of cloudformation/api.yaml (resource template, HTTP method) and the Lambda behind each.
METHODS: dict[tuple[str, str], str] = {key: ("ingest" if key[1] == "/records" else "query")
                                       for key in access.METHOD_SCOPES}


# What plays the method's authorizer: (HTTP method, resource template, request headers) -> the claims to
# pass on, or GatewayRefusal. `ecomflow.local.cognito_local.CognitoAuthorizer` is API Gateway's.
Authorizer = Callable[[str, str, Mapping[str, str]], Mapping[str, str]]


def resource_of(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The resource template of a defined method that `path` matches, and its path parameters, or None."""
    parts = path.split("/")
    for (verb, template) in METHODS:
        pattern = template.split("/")
        if verb != method.upper() or len(pattern) != len(parts):
            continue
        if all(p == q or (p.startswith("{") and q) for p, q in zip(pattern, parts, strict=True)):
            return template, {p[1:-1]: q for p, q in zip(pattern, parts, strict=True) if p.startswith("{")}
    return None


@dataclass
class LambdaContextStub:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    @classmethod
    def for_function(cls, name: str) -> LambdaContextStub:
        return cls(function_name=name, aws_request_id=str(uuid.uuid4()),
                   invoked_function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                   log_group_name=f"/aws/lambda/{name}", log_stream_name="local")

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_lambda(name: str) -> ModuleType:
    """`lambdas/<name>/app.py` loaded as a module of its own, afresh (as a Lambda cold start would).

    A handler module reads its configuration from the environment when it loads, so a fresh load
    sees the environment of now; a loaded one keeps what it read.
    """
    path = LAMBDAS / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"ecomflow_lambda_{name}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(name: str) -> Handler:
    """The `handler` of `lambdas/<name>/app.py`, loaded afresh (`load_lambda`)."""
    return load_lambda(name).handler


def load_handlers(environment: Mapping[str, str]) -> dict[str, Handler]:
    """Both handlers, loaded with `environment` added to os.environ (as CloudFormation sets it); then put back."""
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        return {name: load_handler(name) for name in ("ingest", "query")}
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def proxy_event(method: str, path: str, headers: dict[str, str] | None = None, body: bytes | str | None = None,
                query: dict[str, list[str]] | None = None,
                claims: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The API Gateway REST (v1) proxy event of one request; non-UTF-8 bodies are base64-encoded.

    `claims` are what a Cognito user pool authorizer passes on (`requestContext.authorizer.claims`).
    """
    headers = dict(headers or {})
    is_base64 = False
    text: str | None
    if body is None or body == b"":
        text = None
    elif isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        text = body
    query = query or {}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path, "httpMethod": method.upper(), "path": f"/local{path}", "stage": "local",
            "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": HOST}, "accountId": "000000000000", "apiId": "local",
            **({"authorizer": {"claims": dict(claims)}} if claims is not None else {}),
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _answer(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    """An answer of the adapter itself (as API Gateway gives before or instead of a Lambda's)."""
    body = json.dumps({"statusCode": status, "message": message}).encode("utf-8")
    return status, {"Content-Type": "application/json"}, body


def _proxy_answer(status: int, message: str) -> dict[str, Any]:
    """`_answer` as a proxy response."""
    code, headers, body = _answer(status, message)
    return {"statusCode": code, "headers": headers, "body": body.decode("utf-8")}


class LocalApi:
    """The two handlers behind one local HTTP server, each method behind `authorizer` (as API Gateway's).

    Without an authorizer, the Cognito authorizer of the local stack's pools (created if missing;
    the local stack must run), and the handlers are loaded knowing those pools.
    """

    def __init__(self, handlers: dict[str, Handler] | None = None, authorizer: Authorizer | None = None) -> None:
        environment: dict[str, str] = {}
        if authorizer is None:
            authorizer, environment = local_access()
        self.handlers = handlers or load_handlers(environment)
        self.authorizer: Authorizer = authorizer

    def invoke(self, method: str, path: str, headers: dict[str, str], body: bytes | None,
               query: dict[str, list[str]]) -> dict[str, Any]:
        found = resource_of(method, path)
        if found is None:  # API Gateway's answer to a method or resource the API does not define
            return _proxy_answer(403, "Missing Authentication Token")
        resource, parameters = found
        try:
            claims = self.authorizer(method.upper(), resource, headers)
        except GatewayRefusal as refusal:
            return _proxy_answer(refusal.status, refusal.message)
        event = proxy_event(method, path, headers, body, query, claims=claims)
        event["resource"] = event["requestContext"]["resourcePath"] = resource
        event["pathParameters"] = parameters
        name = METHODS[(method.upper(), resource)]
        return self.handlers[name](event, LambdaContextStub.for_function(f"ecomflow-{name}"))

    def server(self, port: int = 0, host: str = HOST) -> ThreadingHTTPServer:
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                try:
                    status, headers, data = self._respond()
                except Exception:  # the last resort: a bug answers a generic 500, never a dropped connection
                    log.exception("%s %s failed", self.command, self.path)
                    status, headers, data = _answer(500, "internal error; retry later")
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        if key.lower() not in ("content-length", "connection"):
                            self.send_header(key, str(value))
                    self.send_header("Content-Length", str(len(data)))
                    if self.close_connection:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError as exc:  # the client went away; nothing left to answer
                    log.info("%s %s: client gone (%s)", self.command, self.path, exc)

            def _respond(self) -> tuple[int, dict[str, str], bytes]:
                """The status, headers and body of this request's answer, from the Lambda or from us."""
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    self.close_connection = True  # the unread chunks would be taken for the next request
                    return _answer(411, "send the body with a Content-Length, not chunked")
                length = (self.headers.get("Content-Length") or "0").strip()
                if not (length.isascii() and length.isdigit()):
                    self.close_connection = True
                    return _answer(400, f"Content-Length {length[:40]!r} is not a number of bytes")
                if len(length) > 15 or int(length) > MAX_PAYLOAD_BYTES:  # int() of 4,301 digits would raise
                    self.close_connection = True  # not read: API Gateway refuses payloads over 10 MB unread
                    return _answer(413, f"the body is over API Gateway's limit of {MAX_PAYLOAD_BYTES} bytes")
                parts = urlsplit(self.path)
                body = self.rfile.read(int(length)) if int(length) else None
                response = api.invoke(self.command, parts.path, {k: v for k, v in self.headers.items()}, body,
                                      parse_qs(parts.query))
                payload = response.get("body") or ""
                data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
                headers = dict(response.get("headers") or {})
                for key, values in (response.get("multiValueHeaders") or {}).items():
                    headers.setdefault(key, values[-1])
                return int(response.get("statusCode", 502)), headers, data

            # http.server's names; any other method gets http.server's own 501 answer
            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.info("%s %s", self.address_string(), format % args)

        return ThreadingHTTPServer((host, port), RequestHandler)


@dataclass
class RunningApi:
    """A LocalApi serving on a background thread; `url` is its base URL."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start_api(port: int = 0, handlers: dict[str, Handler] | None = None,
              authorizer: Authorizer | None = None) -> RunningApi:
    """Serve both Lambdas on 127.0.0.1:`port` (0 = a free port) in a daemon thread."""
    server = LocalApi(handlers, authorizer).server(port)
    thread = threading.Thread(target=server.serve_forever, name="ecomflow-api", daemon=True)
    thread.start()
    running = RunningApi(server, thread)
    log.info("local API on %s (POST /records, GET /invoices/..., GET /customers/...)", running.url)
    return running
