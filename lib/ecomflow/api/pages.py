"""Pages of the query API: a page size and a next-page token bound to what it pages.

A large invoice is answered in pages (6,000 lines are 2.1 MB of JSON, and past about 17,000 an
answer would break Lambda's 6 MB limit): `?limit=` lines a page (1 to MAX_PAGE_SIZE, default
DEFAULT_PAGE_SIZE), and `next_page` in the answer, to send back as `?page=` for the next one
(null on the last page).

A token is opaque to clients: base64url of `{"t": route kind, "p": partition, "k": sort key}`,
DynamoDB's LastEvaluatedKey in short. It needs no secret to be safe, because it never chooses
what is read: the partition is always the invoice or customer of the path, and a token naming
another (or another route) is refused with a 400; the sort key only says where in that
partition to start. So an edited token can skip lines the caller may read anyway, never reach
another invoice or customer, and a customer's lines are filtered by their id on every page.

No pyspark here: this module runs inside the query Lambda.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from enum import StrEnum
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from ecomflow import contract
from ecomflow.api.errors import InvalidRequestError

DEFAULT_PAGE_SIZE = 500  # about 180 KB of invoice lines
MAX_PAGE_SIZE = 1000  # about 360 KB, far below Lambda's 6 MB
MAX_TOKEN_CHARS = 512
_RECORD_ID = re.compile(r"[A-Za-z0-9]{1,64}")

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="lines (or invoices) a page")]
PageToken = Annotated[str | None, Query(max_length=MAX_TOKEN_CHARS,
                                        description="the `next_page` of the previous answer")]


class Kind(StrEnum):
    """What a token pages: one route's partition of one table."""

    INVOICE = "invoice"  # GET /invoices/{invoice_no}: Invoice sort keys
    ITEM = "item"  # GET /invoices/{invoice_no}/items/{stock_code}: Invoice sort keys of one stock code
    CUSTOMER = "customer"  # GET /customers/{customer_id}/invoices: Customer sort keys (invoice numbers)


def _is_line_key(sort_key: str) -> bool:
    code, separator, record_id = sort_key.partition("#")
    return bool(separator) and contract.is_stock_code(code) and bool(_RECORD_ID.fullmatch(record_id))


def encode(kind: Kind, partition: str, sort_key: str) -> str:
    """The token of the page that starts after `sort_key` in `partition`."""
    document = json.dumps({"t": kind.value, "p": partition, "k": sort_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode("utf-8")).decode("ascii").rstrip("=")


def next_token(kind: Kind, partition: str, sort_key: str | None) -> str | None:
    """The `next_page` of an answer: None when the page was the last one."""
    return None if sort_key is None else encode(kind, partition, sort_key)


def start_after(token: str | None, kind: Kind, partition: str, sort_prefix: str = "") -> str | None:
    """The sort key a page token says to start after, for this route and partition (None: the first page).

    Raises:
        InvalidRequestError: 400 for a token that does not decode, or belongs to another route,
            invoice or customer, or names a sort key this route cannot hold.
    """
    if token is None:
        return None
    refused = InvalidRequestError(400, "the page token is not one this route gave for this "
                                       f"{'customer' if kind is Kind.CUSTOMER else 'invoice'}")
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(document, dict) or document.get("t") != kind.value or document.get("p") != partition:
        raise refused
    sort_key = document.get("k")
    if not isinstance(sort_key, str):
        raise refused
    valid = contract.is_invoice_no(sort_key) if kind is Kind.CUSTOMER else _is_line_key(sort_key)
    if not valid or not sort_key.startswith(sort_prefix):
        raise refused
    return sort_key
