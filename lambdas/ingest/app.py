"""Ingest Lambda behind API Gateway: `POST /records` (JSON or CSV) -> Kinesis. Logic: ecomflow.ingest.

Environment: ECOMFLOW_STREAM_NAME (the Kinesis stream), POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecomflow import ingest
from ecomflow.config import ApiConfig
from ecomflow.errors import DeliveryError, InvalidRequestError

logger = Logger(service="ecomflow-ingest")
app = APIGatewayRestResolver()


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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
