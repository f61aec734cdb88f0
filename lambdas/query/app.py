"""Query Lambda behind API Gateway: transactions read back from DynamoDB. Logic: ecomflow.api.query.

Routes: GET /invoices/{invoice_no}/items/{stock_code}, GET /invoices/{invoice_no},
GET /customers/{customer_id}/invoices. Environment: ECOMFLOW_INVOICE_TABLE, ECOMFLOW_CUSTOMER_TABLE,
POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecomflow import aws

from ecomflow.api import query
from ecomflow.config import ApiConfig
from ecomflow.errors import InvalidRequestError

logger = Logger(service="ecomflow-query")
app = APIGatewayRestResolver()


@app.get("/invoices/<invoice_no>/items/<stock_code>")
def get_item_lines(invoice_no: str, stock_code: str) -> dict:
    invoice, code = query.invoice_no(invoice_no), query.stock_code(stock_code)
    found = query.item_lines(aws.client("dynamodb"), ApiConfig.from_env().invoice_table, invoice, code)
    if found is None:
        raise NotFoundError(f"invoice {invoice} has no line with stock code {code}")
    return found


@app.get("/invoices/<invoice_no>")
def get_invoice(invoice_no: str) -> dict:
    invoice = query.invoice_no(invoice_no)
    found = query.invoice(aws.client("dynamodb"), ApiConfig.from_env().invoice_table, invoice)
    if found is None:
        raise NotFoundError(f"invoice {invoice} not found")
    return found


@app.get("/customers/<customer_id>/invoices")
def get_customer_invoices(customer_id: str) -> dict:
    customer = query.customer_id(customer_id)
    found = query.customer_invoices(aws.client("dynamodb"), ApiConfig.from_env().customer_table, customer)
    if found is None:
        raise NotFoundError(f"customer {customer} has no invoices")
    return found


@app.exception_handler(InvalidRequestError)
def invalid_request(error: InvalidRequestError) -> Response:
    return Response(status_code=error.status_code, content_type=content_types.APPLICATION_JSON, body=error.to_dict())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
