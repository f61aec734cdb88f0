"""Query Lambda behind API Gateway: transactions read back from DynamoDB. Logic: ecomflow.api.query.

Routes: GET /invoices/{invoice_no}/items/{stock_code}, GET /invoices/{invoice_no},
GET /customers/{customer_id}/invoices, each with `?limit=` and `?page=` (ecomflow.api.pages); who
may read what: ecomflow.api.access. Environment (read once, when the module loads):
ECOMFLOW_INVOICE_TABLE, ECOMFLOW_CUSTOMER_TABLE, ECOMFLOW_STAFF_ISSUER, ECOMFLOW_CUSTOMER_ISSUER,
ECOMFLOW_APP_CLIENTS, POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecomflow import aws
from ecomflow.api import access, errors, pages, query
from ecomflow.config import ApiConfig

CONFIG = ApiConfig.from_env()
logger = Logger(service="ecomflow-query")
app = errors.resolver(logger)


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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context: LambdaContext) -> dict:
    return errors.resolve(app, logger, event, context)
