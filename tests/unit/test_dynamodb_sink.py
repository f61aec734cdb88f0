"""DynamoDB writes: deduplicated, 25 a batch, UnprocessedItems re-sent; every line of a pair kept."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from ecomflow.errors import DeliveryError
from ecomflow.retry import RetryPolicy
from ecomflow.sinks import dynamodb

NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


def line(record_id: str, stock_code: str = "85123A", quantity: int = 6, customer_id: str | None = "17850",
         invoice_no: str = "536365") -> dict:
    return {"record_id": record_id, "invoice_no": invoice_no, "stock_code": stock_code, "description": "HEART",
            "quantity": quantity, "unit_price": Decimal("2.550"), "revenue": Decimal("2.550") * quantity,
            "invoice_ts": datetime(2010, 12, 1, 8, 26), "customer_id": customer_id, "country": "United Kingdom",
            "line_type": "sale"}


def stubbed_client():
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def put(item: dict) -> dict:
    return {"PutRequest": {"Item": dynamodb.to_attributes(item)}}


def test_each_line_of_a_repeated_pair_is_its_own_item():
    items = [dynamodb.invoice_item(line("a")), dynamodb.invoice_item(line("b", quantity=2))]
    assert [i["StockCode"] for i in items] == ["85123A#a", "85123A#b"]
    assert items[0]["InvoiceNo"] == "536365" and items[0]["stock_code"] == "85123A"
    assert items[0]["invoice_ts"] == "2010-12-01T08:26:00" and items[1]["revenue"] == Decimal("5.100")


def test_duplicate_keys_are_folded_before_a_batch():
    unique, folded = dynamodb.dedupe_by_key([dynamodb.invoice_item(line("a"))] * 3, dynamodb.INVOICE_KEY)
    assert len(unique) == 1 and folded == 2


def test_writes_are_chunked_to_25_and_unprocessed_items_resent():
    client, stub = stubbed_client()
    items = [dynamodb.invoice_item(line(f"r{i:02d}")) for i in range(30)]
    requests = [put(i) for i in items]
    stub.add_response("batch_write_item", {"UnprocessedItems": {"Invoice": requests[3:5]}},
                      {"RequestItems": {"Invoice": requests[:25]}})
    stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"Invoice": requests[3:5]}})
    stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"Invoice": requests[25:]}})
    with stub:
        stats = dynamodb.write_items(client, "Invoice", items + items[:2], dynamodb.INVOICE_KEY, retry=NO_WAIT,
                                     sleep=lambda s: None)
    stub.assert_no_pending_responses()
    assert stats == dynamodb.WriteStats(items=30, calls=3, retried=2, duplicates=2)


def test_items_still_unprocessed_raise_delivery_error():
    client, stub = stubbed_client()
    request = [put(dynamodb.invoice_item(line("a")))]
    for _ in range(NO_WAIT.max_attempts):
        stub.add_response("batch_write_item", {"UnprocessedItems": {"Invoice": request}})
    with stub, pytest.raises(DeliveryError, match="1 items were not written to Invoice"):
        dynamodb.write_items(client, "Invoice", [dynamodb.invoice_item(line("a"))], dynamodb.INVOICE_KEY,
                             retry=NO_WAIT, sleep=lambda s: None)


def test_customer_summary_counts_the_lines_of_a_customer():
    lines = [dynamodb.invoice_item(line("a")), dynamodb.invoice_item(line("b", quantity=2)),
             dynamodb.invoice_item(line("c", stock_code="22633", customer_id=None))]
    (summary,) = dynamodb.customer_summaries(lines)
    assert summary == {"CustomerID": "17850", "InvoiceNo": "536365", "invoice_ts": "2010-12-01T08:26:00",
                       "country": "United Kingdom", "line_count": 2, "item_count": 1, "total_quantity": 8,
                       "total_revenue": Decimal("20.400"), "line_types": ["sale"], "stock_codes": ["85123A"],
                       "record_ids": ["a", "b"]}


def test_merging_a_summary_counts_new_lines_once():
    first = dynamodb.merge_summary(None, [dynamodb.invoice_item(line("a"))])
    later = dynamodb.merge_summary(first, [dynamodb.invoice_item(line("a")),
                                           dynamodb.invoice_item(line("b", stock_code="22633", quantity=2))])
    assert (later["line_count"], later["item_count"], later["total_quantity"]) == (2, 2, 8)
    assert later["total_revenue"] == Decimal("20.400") and later["record_ids"] == ["a", "b"]
    assert dynamodb.merge_summary(later, [dynamodb.invoice_item(line("b", stock_code="22633"))]) is None
