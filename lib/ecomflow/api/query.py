"""Reading transactions back for the query API: typed path parameters and JSON views of DynamoDB items.

The routes' path parameters are typed (`InvoiceNoParam`, `StockCodeParam`, `CustomerIdParam`):
Powertools' validation reads each as the contract holds it (URL-decoded, trimmed, a stock code
upper-cased, a customer id as digits) or refuses it with a message naming the parameter, which
the handler answers as a 400 (`ecomflow.api.errors.refusal`). An id that is well formed but not
stored is Powertools' `NotFoundError` (404).

Every read is the caller's (`ecomflow.api.access`): analysts read everything, a customer their own
lines and invoices only, a producer nothing (403). Answers come in pages (`ecomflow.api.pages`).

No pyspark here: this module runs inside the query Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import AfterValidator

from ecomflow import contract
from ecomflow.api import access, pages
from ecomflow.api.access import Caller, Role
from ecomflow.stores import dynamodb


def _path_value(raw: str) -> str:
    """A path parameter as the contract holds it: URL-decoded, trimmed by the contract's whitespace rule."""
    return contract.trim(unquote(raw)) or ""


def invoice_no(raw: str) -> str:
    """A path's invoice number, trimmed; ValueError unless letters and digits."""
    value = _path_value(raw)
    if not contract.is_invoice_no(value):
        raise ValueError(f"malformed invoice number {contract.shown(value)}: expected 1-32 ASCII letters and digits, "
                         f"e.g. 536365 or C536379")
    return value


def stock_code(raw: str) -> str:
    """A path's stock code, trimmed and upper-cased as the curated data holds it; ValueError when malformed."""
    value = _path_value(raw).upper()
    if not contract.is_stock_code(value):
        raise ValueError(f"malformed stock code {contract.shown(value)}: expected letters, digits, spaces "
                         f"or _.-/ (at most 64), e.g. 85123A")
    return value


def customer_id(raw: str) -> str:
    """A path's customer id as digits (`17850.0` is `17850`); ValueError when malformed."""
    value = _path_value(raw)
    digits = contract.customer_digits(value)
    if digits is None:
        raise ValueError(f"malformed customer id {contract.shown(value)}: expected at most 20 digits, "
                         f"e.g. 17850")
    return digits


# The routes' path parameters: validated (and normalised) by the functions above, through pydantic.
InvoiceNoParam = Annotated[str, Path(description="Invoice number, letters and digits (C = cancellation, "
                                                 "A = adjustment)", examples=["C536379"]), AfterValidator(invoice_no)]
StockCodeParam = Annotated[str, Path(description="Stock code, case-insensitive (stored upper-case); letters, digits, "
                                                 "spaces and _.-/", examples=["85123A"]), AfterValidator(stock_code)]
CustomerIdParam = Annotated[str, Path(description="Customer id, digits (17850.0 is read as 17850)",
                                      examples=["17850"]), AfterValidator(customer_id)]


def _money(value: Any) -> str:
    """Money as the exact decimal string of the curated contract (3 decimals)."""
    return str(dynamodb.money(value))


def line_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """One `Invoice` item as the API returns it: money as exact decimal strings."""
    return {
        "record_id": item["record_id"],
        "invoice_no": item["InvoiceNo"],
        "stock_code": item["stock_code"],
        "description": item.get("description"),
        "quantity": int(item["quantity"]),
        "unit_price": _money(item["unit_price"]),
        "revenue": _money(item["revenue"]),
        "invoice_ts": item["invoice_ts"],
        "customer_id": item.get("customer_id"),
        "country": item["country"],
        "line_type": item["line_type"],
    }


def summary_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """One `Customer` item (an invoice summary) as the API returns it."""
    return {
        "customer_id": item["CustomerID"],
        "invoice_no": item["InvoiceNo"],
        "invoice_ts": item["invoice_ts"],
        "country": item["country"],
        "line_count": int(item["line_count"]),
        "item_count": int(item["item_count"]),
        "total_quantity": int(item["total_quantity"]),
        "total_revenue": _money(item["total_revenue"]),
        "line_types": list(item.get("line_types", [])),
    }


def _lines_for(caller: Caller) -> str | None:
    """Whose lines `caller` may read: None for all of them (analysts), a customer id for a customer's own."""
    access.require(caller, Role.ANALYST, Role.CUSTOMER)
    return caller.customer_id


def item_lines(client: Any, table: str, invoice: str, code: str, caller: Caller, *,
               limit: int = pages.DEFAULT_PAGE_SIZE, page: str | None = None) -> dict[str, Any]:
    """A page of the lines of (invoice, stock code) the caller may read; NotFoundError when there is none.

    A customer sees their own lines only, and "not found" for lines of other customers: the same
    answer as for an invoice that does not exist, so invoice numbers cannot be probed.
    """
    prefix = code + dynamodb.SORT_KEY_SEPARATOR
    after = pages.start_after(page, pages.Kind.ITEM, invoice, prefix)
    found = dynamodb.query_page(client, table, dynamodb.INVOICE_KEY, invoice, limit=limit, after=after,
                                sort_prefix=prefix, customer_id=_lines_for(caller))
    if not found.items and after is None:
        raise NotFoundError(f"invoice {invoice} has no line with stock code {code}")
    return {"invoice_no": invoice, "stock_code": code, "count": len(found.items),
            "lines": [line_view(i) for i in found.items],
            "next_page": pages.next_token(pages.Kind.ITEM, invoice, found.next_sort_key)}


def invoice(client: Any, table: str, invoice: str, caller: Caller, *,
            limit: int = pages.DEFAULT_PAGE_SIZE, page: str | None = None) -> dict[str, Any]:
    """A page of the lines of one invoice the caller may read; NotFoundError when there is none.

    A customer sees their own lines only (an invoice may hold lines of several customers), and "not
    found" for an invoice without any: the same answer as for one that does not exist.
    """
    after = pages.start_after(page, pages.Kind.INVOICE, invoice)
    found = dynamodb.query_page(client, table, dynamodb.INVOICE_KEY, invoice, limit=limit, after=after,
                                customer_id=_lines_for(caller))
    if not found.items and after is None:
        raise NotFoundError(f"invoice {invoice} not found")
    return {"invoice_no": invoice, "count": len(found.items), "lines": [line_view(i) for i in found.items],
            "next_page": pages.next_token(pages.Kind.INVOICE, invoice, found.next_sort_key)}


def customer_invoices(client: Any, table: str, customer: str, caller: Caller, *,
                      limit: int = pages.DEFAULT_PAGE_SIZE, page: str | None = None) -> dict[str, Any]:
    """A page of one customer's invoice summaries; NotFoundError when there are none.

    Raises:
        ForbiddenError: a customer asking for another customer's invoices, or a producer (403).
    """
    own = _lines_for(caller)
    if own is not None and own != customer:
        raise ForbiddenError("a customer may read their own invoices only")
    after = pages.start_after(page, pages.Kind.CUSTOMER, customer)
    found = dynamodb.query_page(client, table, dynamodb.CUSTOMER_KEY, customer, limit=limit, after=after)
    if not found.items and after is None:
        raise NotFoundError(f"customer {customer} has no invoices")
    return {"customer_id": customer, "count": len(found.items), "invoices": [summary_view(i) for i in found.items],
            "next_page": pages.next_token(pages.Kind.CUSTOMER, customer, found.next_sort_key)}
