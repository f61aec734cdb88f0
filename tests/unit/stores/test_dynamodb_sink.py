"""DynamoDB writes: deduplicated, 25 a batch, UnprocessedItems re-sent; every line of a pair kept."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from ecomflow.errors import DeliveryError
from ecomflow.retry import RetryPolicy
from ecomflow.stores import dynamodb

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
                       "total_revenue": Decimal("20.400"), "line_types": ["sale"]}


def test_a_summary_stays_small_however_many_lines_its_invoice_has():
    lines = [dynamodb.invoice_item(line(f"r{i:05d}", stock_code=f"C{i:05d}")) for i in range(20_000)]
    (summary,) = dynamodb.customer_summaries(lines)
    assert summary["line_count"] == summary["item_count"] == 20_000
    assert len(repr(dynamodb.to_attributes(summary))) < 1_000


def validation_error(operation: str) -> dict:
    return {"service_error_code": "ValidationException", "service_message": "Item size has exceeded the maximum "
            "allowed size", "http_status_code": 400}


def test_a_chunk_dynamodb_refuses_is_put_item_by_item_and_only_the_bad_item_is_left_out():
    client, stub = stubbed_client()
    items = [dynamodb.invoice_item(line(f"r{i}")) for i in range(3)]
    stub.add_client_error("batch_write_item", **validation_error("batch_write_item"))
    stub.add_response("put_item", {}, {"TableName": "Invoice", "Item": dynamodb.to_attributes(items[0])})
    stub.add_client_error("put_item", **validation_error("put_item"))
    stub.add_response("put_item", {}, {"TableName": "Invoice", "Item": dynamodb.to_attributes(items[2])})
    with stub:
        stats = dynamodb.write_items(client, "Invoice", items, dynamodb.INVOICE_KEY, retry=NO_WAIT,
                                     sleep=lambda s: None)
    stub.assert_no_pending_responses()
    assert stats.items == 2 and [r.record_id for r in stats.rejected] == ["r1"]
    assert stats.rejected[0].key == ("536365", "85123A#r1") and "maximum allowed size" in stats.rejected[0].message


def test_other_errors_of_a_chunk_are_raised_not_dead_lettered():
    client, stub = stubbed_client()
    stub.add_client_error("batch_write_item", service_error_code="InternalServerError", http_status_code=500)
    with stub, pytest.raises(Exception, match="InternalServerError"):
        dynamodb.write_items(client, "Invoice", [dynamodb.invoice_item(line("a"))], dynamodb.INVOICE_KEY,
                             retry=NO_WAIT, sleep=lambda s: None)


def test_a_line_outside_the_key_grammar_is_refused_not_given_a_forged_key():
    client, stub = stubbed_client()
    with stub:
        stats = dynamodb.save_lines(client, "Invoice", "Customer", [line("evil", stock_code="85123#EVIL",
                                                                         customer_id=None)])
    assert stats.items == 0 and [r.record_id for r in stats.rejected] == ["evil"]
