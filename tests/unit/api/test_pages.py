"""Pages of the query API: the token (`ecomflow.api.pages`) and paged reads (`stores.dynamodb.query_page`)."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from ecomflow.api import pages
from ecomflow.api.errors import InvalidRequestError
from ecomflow.api.pages import Kind
from ecomflow.stores import dynamodb


def forged(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


# --- the token --------------------------------------------------------------------------------------

def test_a_token_gives_back_the_sort_key_it_was_made_with():
    token = pages.encode(Kind.INVOICE, "536365", "85123A#ab12")
    assert pages.start_after(token, Kind.INVOICE, "536365") == "85123A#ab12"


def test_a_token_is_opaque_url_safe_text():
    token = pages.encode(Kind.ITEM, "C536379", "D#ff")
    assert "536379" not in token and re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_no_token_is_the_first_page():
    assert pages.start_after(None, Kind.CUSTOMER, "17850") is None


@pytest.mark.parametrize(("kind", "partition"), [
    (Kind.INVOICE, "536366"),  # another invoice
    (Kind.ITEM, "536365"),  # another route of the same invoice
    (Kind.CUSTOMER, "536365"),  # a customer whose id is the invoice number's digits
])
def test_a_token_for_another_invoice_route_or_customer_is_400(kind, partition):
    token = pages.encode(Kind.INVOICE, "536365", "85123A#ab12")
    with pytest.raises(InvalidRequestError) as refused:
        pages.start_after(token, kind, partition)
    assert refused.value.status_code == 400


@pytest.mark.parametrize("token", [
    "not base64 !", "e30", forged([1]), forged({"t": "invoice", "p": "536365"}),
    forged({"t": "invoice", "p": "536365", "k": 5}),
    forged({"t": "invoice", "p": "536365", "k": "no-separator"}),
    forged({"t": "invoice", "p": "536365", "k": "85123A#rid#extra"}),
    forged({"t": "invoice", "p": "536365", "k": "bad code!#rid"}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_a_token_that_is_not_one_of_ours_is_400(token):
    with pytest.raises(InvalidRequestError, match="page token"):
        pages.start_after(token, Kind.INVOICE, "536365")


def test_an_item_token_must_stay_within_its_stock_code():
    token = pages.encode(Kind.ITEM, "536365", "85123B#ab")
    with pytest.raises(InvalidRequestError):
        pages.start_after(token, Kind.ITEM, "536365", sort_prefix="85123A#")


def test_a_customer_token_holds_an_invoice_number():
    assert pages.start_after(pages.encode(Kind.CUSTOMER, "17850", "C536379"), Kind.CUSTOMER, "17850") == "C536379"
    with pytest.raises(InvalidRequestError):
        pages.start_after(pages.encode(Kind.CUSTOMER, "17850", "85123A#ab"), Kind.CUSTOMER, "17850")


def test_the_last_page_has_no_next_token():
    assert pages.next_token(Kind.INVOICE, "536365", None) is None


# --- paged reads ------------------------------------------------------------------------------------

def line(rid: str, code: str, customer: str | None) -> dict:
    return {"record_id": rid, "invoice_no": "536365", "stock_code": code, "description": "X", "quantity": 1,
            "unit_price": Decimal("1.5"), "revenue": Decimal("1.5"), "invoice_ts": "2010-12-01T08:26:00",
            "customer_id": customer, "country": "United Kingdom", "line_type": "sale"}


@pytest.fixture
def ddb(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.ensure_tables(client, "Invoice", "Customer")
        # 25 lines: every third one of customer 2, the others of customer 1, three without a customer
        lines = [line(f"r{i:02d}", f"C{i % 4}", "2" if i % 3 == 0 else "1") for i in range(22)]
        lines += [line(f"n{i}", "C9", None) for i in range(3)]
        dynamodb.save_lines(client, "Invoice", "Customer", lines)
        yield client


def read_all(client, limit: int, **kwargs) -> tuple[list[str], int]:
    """Every record id the pages hold, in order, and how many pages it took."""
    seen, after, calls = [], None, 0
    while True:
        page = dynamodb.query_page(client, "Invoice", dynamodb.INVOICE_KEY, "536365", limit=limit, after=after,
                                   **kwargs)
        calls += 1
        assert len(page.items) <= limit
        seen += [item["record_id"] for item in page.items]
        if page.next_sort_key is None:
            return seen, calls
        after = page.next_sort_key


def test_pages_hold_every_line_once_in_sort_key_order(ddb):
    everything = [i["record_id"] for i in dynamodb.invoice_lines(ddb, "Invoice", "536365")]
    seen, calls = read_all(ddb, limit=4)
    assert seen == everything and len(everything) == 25 and calls in (7, 8)


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_a_customers_pages_hold_exactly_their_lines(ddb, limit):
    theirs = [i["record_id"] for i in dynamodb.invoice_lines(ddb, "Invoice", "536365") if i.get("customer_id") == "2"]
    assert read_all(ddb, limit=limit, customer_id="2")[0] == theirs and len(theirs) == 8


def test_a_customer_with_no_line_gets_one_empty_page(ddb):
    assert read_all(ddb, limit=3, customer_id="3") == ([], 1)


def test_pages_of_one_stock_code(ddb):
    got = read_all(ddb, limit=2, sort_prefix="C1#")[0]
    assert got == [f"r{i:02d}" for i in range(22) if i % 4 == 1]
