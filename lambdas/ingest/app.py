"""Ingest Lambda behind API Gateway: `POST /records` (JSON or CSV) -> Kinesis. Logic: ecomflow.api.ingest.

Only producers may post (ecomflow.api.access). Environment (read once, when the module loads):
ECOMFLOW_STREAM_NAME (the Kinesis stream), ECOMFLOW_STAFF_ISSUER, ECOMFLOW_CUSTOMER_ISSUER,
ECOMFLOW_APP_CLIENTS (who may call), POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import functools
import json
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Depends, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecomflow import aws
from ecomflow.api import access, errors, ingest
from ecomflow.config import ApiConfig

CONFIG = ApiConfig.from_env()
logger = Logger(service="ecomflow-ingest")
# A response that breaks its model is a bug: a 500 (internal_error), not Powertools' 422.
app = APIGatewayRestResolver(enable_validation=True,
                             response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)


@functools.cache
def kinesis() -> Any:
    return aws.client("kinesis")


def producer(request: Request) -> access.Caller:
    """The caller, if a producer; a Powertools dependency."""
    return access.require(access.request_caller(request, CONFIG.require_access()), access.Role.PRODUCER)


@app.post("/records")
def post_records(caller: Annotated[access.Caller, Depends(producer)],  # first: a non-producer's body is not read
                 records: Annotated[list[ingest.RawRecord], Depends(ingest.request_records)],
                 ) -> tuple[ingest.Accepted, int]:
    stats = ingest.send_records(records, CONFIG.require_stream(), kinesis())
    logger.info("records accepted", extra={"accepted": stats.records, "calls": stats.calls, "retried": stats.retried,
                                           "client_id": caller.client_id})
    return ingest.Accepted(accepted=stats.records), HTTPStatus.ACCEPTED


@app.exception_handler(RequestValidationError)
def invalid_parameters(error: RequestValidationError) -> Response:
    return refused(errors.refusal(error))


@app.exception_handler(ServiceError)
def refused(error: ServiceError) -> Response:
    # Ours (InvalidRequestError, 503) and Powertools' own (404 for an unknown route); registered so the
    # Exception handler below skips them.
    if int(error.status_code) >= 500:
        logger.error("request failed", extra={"status": int(error.status_code), "reason": error.msg,
                                              "cause": repr(error.__cause__)})
    else:
        logger.info("request refused", extra={"status": int(error.status_code), "reason": error.msg})
    return errors.answer(error)


@app.exception_handler(Exception)
def internal_error(error: Exception) -> Response:
    # The last resort: a bug answers a generic 500 (its details stay in the log), never a dead Lambda (502).
    logger.exception("unexpected error", extra={"error": type(error).__name__})
    return errors.internal_error()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context: LambdaContext) -> dict:
    try:
        return app.resolve(event, context)
    except Exception:  # an event Powertools cannot route at all; everything else ends in internal_error
        logger.exception("unexpected error outside the route")
        return {"statusCode": 500, "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps(errors.INTERNAL_ERROR)}
