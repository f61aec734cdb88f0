"""Ingest Lambda behind API Gateway: `POST /records` (JSON or CSV) -> Kinesis. Logic: ecomflow.api.ingest.

Environment: ECOMFLOW_STREAM_NAME (the Kinesis stream), POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecomflow.api import ingest
from ecomflow.config import ApiConfig
from ecomflow.errors import DeliveryError, InvalidRequestError

logger = Logger(service="ecomflow-ingest")
app = APIGatewayRestResolver()

INTERNAL_ERROR = {"statusCode": 500, "message": "internal error; retry later"}


@app.post("/records")
def post_records() -> tuple[dict, int]:
    event = app.current_event
    records = ingest.parse_records(event.body, event.headers.get("content-type"), event.is_base64_encoded)
    stats = ingest.send_records(records, ApiConfig.from_env().require_stream())
    logger.info("records accepted", extra={"accepted": stats.records, "calls": stats.calls, "retried": stats.retried})
    return {"accepted": stats.records}, 202


@app.exception_handler(InvalidRequestError)
def invalid_request(error: InvalidRequestError) -> Response:
    logger.info("request refused", extra={"status": error.status_code, "reason": error.message})
    return Response(status_code=error.status_code, content_type=content_types.APPLICATION_JSON, body=error.to_dict())


@app.exception_handler(DeliveryError)
def stream_unavailable(error: DeliveryError) -> Response:
    logger.error("Kinesis did not take the records", extra={"reason": str(error)})
    return Response(status_code=503, content_type=content_types.APPLICATION_JSON,
                    body={"statusCode": 503, "message": "the stream is not accepting records right now; retry later"})


@app.exception_handler(ServiceError)
def http_error(error: ServiceError) -> Response:
    # Powertools' own answers (404 for an unknown route); registered so the Exception handler below skips them.
    status = int(error.status_code)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body={"statusCode": status, "message": error.msg})


@app.exception_handler(Exception)
def internal_error(error: Exception) -> Response:
    # The last resort: a bug answers a generic 500 (its details stay in the log), never a dead Lambda (502).
    logger.exception("unexpected error", extra={"error": type(error).__name__})
    return Response(status_code=500, content_type=content_types.APPLICATION_JSON, body=INTERNAL_ERROR)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context: LambdaContext) -> dict:
    try:
        return app.resolve(event, context)
    except Exception:  # an event Powertools cannot route at all; everything else ends in internal_error
        logger.exception("unexpected error outside the route")
        return {"statusCode": 500, "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps(INTERNAL_ERROR)}
