"""Query Lambda behind API Gateway: transactions read back from DynamoDB. Logic: ecomflow.api.query.

Routes: GET /invoices/{invoice_no}/items/{stock_code}, GET /invoices/{invoice_no},
GET /customers/{customer_id}/invoices, each with `?limit=` and `?page=` (ecomflow.api.pages); who
may read what: ecomflow.api.access. Environment (read once, when the module loads):
ECOMFLOW_INVOICE_TABLE, ECOMFLOW_CUSTOMER_TABLE, ECOMFLOW_STAFF_ISSUER, ECOMFLOW_CUSTOMER_ISSUER,
ECOMFLOW_APP_CLIENTS, POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
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
from ecomflow.api import access, errors, pages, query
from ecomflow.config import ApiConfig

CONFIG = ApiConfig.from_env()
logger = Logger(service="ecomflow-query")
# A response that breaks its type is a bug: a 500 (internal_error), not Powertools' 422.
app = APIGatewayRestResolver(enable_validation=True,
                             response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)


@functools.cache
def dynamodb() -> Any:
    return aws.client("dynamodb")


def reader(request: Request) -> access.Caller:
    """The caller, if they may read at all (analysts, customers); a Powertools dependency."""
    return access.require(access.request_caller(request, CONFIG.require_access()),
                          access.Role.ANALYST, access.Role.CUSTOMER)


Reader = Annotated[access.Caller, Depends(reader)]


@app.get("/invoices/<invoice_no>/items/<stock_code>")
def get_item_lines(invoice_no: query.InvoiceNoParam, stock_code: query.StockCodeParam, caller: Reader,
                   limit: pages.PageSize = pages.DEFAULT_PAGE_SIZE, page: pages.PageToken = None) -> dict[str, Any]:
    return query.item_lines(dynamodb(), CONFIG.invoice_table, invoice_no, stock_code, caller, limit=limit, page=page)


@app.get("/invoices/<invoice_no>")
def get_invoice(invoice_no: query.InvoiceNoParam, caller: Reader,
                limit: pages.PageSize = pages.DEFAULT_PAGE_SIZE, page: pages.PageToken = None) -> dict[str, Any]:
    return query.invoice(dynamodb(), CONFIG.invoice_table, invoice_no, caller, limit=limit, page=page)


@app.get("/customers/<customer_id>/invoices")
def get_customer_invoices(customer_id: query.CustomerIdParam, caller: Reader,
                          limit: pages.PageSize = pages.DEFAULT_PAGE_SIZE,
                          page: pages.PageToken = None) -> dict[str, Any]:
    return query.customer_invoices(dynamodb(), CONFIG.customer_table, customer_id, caller, limit=limit, page=page)


@app.exception_handler(RequestValidationError)
def invalid_parameters(error: RequestValidationError) -> Response:
    return refused(errors.refusal(error))


@app.exception_handler(ServiceError)
def refused(error: ServiceError) -> Response:
    # 400 for a malformed id or page token, 401/403 for a caller without the right, 404 for an absent
    # id or an unknown route; registered so the Exception handler below skips them.
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
