"""The Lambdas' HTTP answers to errors, in one place: refusals are Powertools' `ServiceError`s.

Every error answer has the same JSON body: `{"statusCode": ..., "message": ...}`, plus `errors`
(one entry per bad record) when a request is refused for what its records hold. The routes raise
Powertools' HTTP errors (`NotFoundError`, `ServiceUnavailableError`, ...) or `InvalidRequestError`,
the one that carries `errors`. `resolver` builds both Lambdas' Powertools app with the handlers that
answer them: `answer` for a `ServiceError`, `refusal` for Powertools' `RequestValidationError` (a 400
here, not Powertools' 422) and `internal_error` for anything else; `resolve` runs one event through
it and answers 500 even for an event Powertools cannot route.

No pyspark here: this module runs inside both Lambdas.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

MAX_ERROR_TEXT = 300  # characters of one message or error string an API answer carries
INTERNAL_ERROR = {"statusCode": 500, "message": "internal error; retry later"}


def _capped(value: Any) -> Any:
    """`value` with every string in it cut to MAX_ERROR_TEXT characters (an ellipsis marks the cut)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_ERROR_TEXT else value[:MAX_ERROR_TEXT] + "..."
    if isinstance(value, dict):
        return {key: _capped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_capped(item) for item in value]
    return value


class InvalidRequestError(ServiceError):
    """A request that cannot be accepted: a Powertools HTTP error that also names each bad record.

    Messages and errors are cut to MAX_ERROR_TEXT characters a string, so an answer never echoes
    a whole field, header or body back.
    """

    def __init__(self, status_code: int, message: str, errors: list[dict[str, object]] | None = None) -> None:
        message = _capped(message)
        super().__init__(status_code, message)
        Exception.__init__(self, message)  # ServiceError keeps no args: str(error) is the message
        self.message = message
        self.errors = [_capped(entry) for entry in errors or []]

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"statusCode": int(self.status_code), "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def body_of(error: ServiceError) -> dict[str, object]:
    """The JSON body answering `error`."""
    if isinstance(error, InvalidRequestError):
        return error.to_dict()
    return {"statusCode": int(error.status_code), "message": _capped(error.msg)}


def answer(error: ServiceError) -> Response:
    """The HTTP answer to a Powertools HTTP error (ours, a route's or Powertools' own 404)."""
    return Response(status_code=int(error.status_code), content_type=content_types.APPLICATION_JSON,
                    body=body_of(error))


def internal_error() -> Response:
    """The answer to a bug: a generic 500 (the details stay in the log), never a dead Lambda (502)."""
    return Response(status_code=HTTPStatus.INTERNAL_SERVER_ERROR, content_type=content_types.APPLICATION_JSON,
                    body=INTERNAL_ERROR)


def _problem(error: dict[str, Any]) -> str:
    """What one pydantic error says, in our words: a validator's own message, else pydantic's, with its place."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    where = ".".join(str(part) for part in error.get("loc", ())[1:])  # ("path", "invoice_no") -> invoice_no
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def refusal(error: RequestValidationError) -> InvalidRequestError:
    """400 for what Powertools' validation refused (path parameters), naming each bad parameter."""
    problems = [_problem(e) for e in error.errors()]
    return InvalidRequestError(HTTPStatus.BAD_REQUEST, "; ".join(problems) or "invalid request")


def resolver(logger: Logger) -> APIGatewayRestResolver:
    """A Lambda's Powertools app, validating with models, its error answers registered.

    A response that breaks its own model is a bug: a 500, not Powertools' 422.
    """
    app = APIGatewayRestResolver(enable_validation=True,
                                 response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)

    @app.exception_handler(RequestValidationError)
    def invalid_parameters(error: RequestValidationError) -> Response:
        return refused(refusal(error))

    @app.exception_handler(ServiceError)
    def refused(error: ServiceError) -> Response:
        # Ours (InvalidRequestError, 503), a caller's 401/403, Powertools' own 404 for an unknown route;
        # registered so the Exception handler below skips them.
        status = int(error.status_code)
        if status >= 500:
            logger.error("request failed", extra={"status": status, "reason": error.msg,
                                                  "cause": repr(error.__cause__)})
        else:
            logger.info("request refused", extra={"status": status, "reason": error.msg})
        return answer(error)

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unexpected error", extra={"error": type(error).__name__})
        return internal_error()

    return app


def resolve(app: APIGatewayRestResolver, logger: Logger, event: dict, context: Any) -> dict:
    """`app`'s answer to one API Gateway event; a 500 for an event Powertools cannot route at all."""
    try:
        return app.resolve(event, context)
    except Exception:  # everything routable already ended in the handlers above
        logger.exception("unexpected error outside the route")
        return {"statusCode": int(HTTPStatus.INTERNAL_SERVER_ERROR),
                "headers": {"Content-Type": content_types.APPLICATION_JSON}, "body": json.dumps(INTERNAL_ERROR)}
