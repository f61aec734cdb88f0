"""Ingest Lambda behind API Gateway: `POST /records` (JSON or CSV) -> Kinesis. Logic: ecomflow.api.ingest.

Only producers may post (ecomflow.api.access). Environment (read once, when the module loads):
ECOMFLOW_STREAM_NAME (the Kinesis stream), ECOMFLOW_STAFF_ISSUER, ECOMFLOW_CUSTOMER_ISSUER,
ECOMFLOW_APP_CLIENTS (who may call), POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecomflow import aws
from ecomflow.api import access, errors, ingest
from ecomflow.config import ApiConfig

CONFIG = ApiConfig.from_env()
logger = Logger(service="ecomflow-ingest")
app = errors.resolver(logger)


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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context: LambdaContext) -> dict:
    return errors.resolve(app, logger, event, context)
