"""The Lambda handlers with minimal API Gateway proxy events, against moto in-process."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from ecomflow.api_local import LambdaContextStub, load_handler, proxy_event
from ecomflow.sinks import dynamodb

GOOD = {"InvoiceNo": "C536379", "StockCode": "D", "Description": "Discount", "Quantity": "-1",
        "InvoiceDate": "12/1/2010 9:41", "UnitPrice": "27.50", "CustomerID": "14527", "Country": "United Kingdom"}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("ECOMFLOW_STREAM_NAME", "records")
    monkeypatch.setenv("ECOMFLOW_INVOICE_TABLE", "Invoice")
    monkeypatch.setenv("ECOMFLOW_CUSTOMER_TABLE", "Customer")
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName="records", ShardCount=1)
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.ensure_tables(ddb, "Invoice", "Customer")
        yield kinesis, ddb


def call(name: str, method: str, path: str, body=None, content_type: str | None = "application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    response = load_handler(name)(proxy_event(method, path, headers, body), LambdaContextStub.for_function(name))
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def stream_records(kinesis) -> list[dict]:
    shard = kinesis.list_shards(StreamName="records")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="records", ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return kinesis.get_records(ShardIterator=iterator)["Records"]


def test_post_json_records_is_202_and_reaches_the_stream(aws):
    kinesis, _ = aws
    status, body = call("ingest", "POST", "/records", json.dumps({"records": [GOOD, {**GOOD, "Quantity": 2}]}))
    assert (status, body) == (202, {"accepted": 2})
    records = stream_records(kinesis)
    assert [r["PartitionKey"] for r in records] == ["C536379", "C536379"]
    assert json.loads(records[1]["Data"])["Quantity"] == "2"


def test_post_csv_is_202(aws):
    csv = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" \
          "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
    assert call("ingest", "POST", "/records", csv, "text/csv") == (202, {"accepted": 1})


@pytest.mark.parametrize(("body", "content_type", "status", "needle"), [
    ("not json", "application/json", 400, "not valid JSON"),
    (json.dumps({"records": [{"InvoiceNo": "1"}]}), "application/json", 400, "1 of 1 records are invalid"),
    (json.dumps({"records": [GOOD]}), "text/plain", 415, "unsupported content type"),
    (json.dumps({"records": [GOOD]}), None, 415, "unsupported content type"),
    (json.dumps({"records": [GOOD] * 501}), "application/json", 413, "at most 500"),
    (json.dumps({"records": [{**GOOD, "Description": "x" * (5 * 1024 * 1024)}]}), "application/json", 413, "5 MiB"),
])
def test_bad_requests_are_4xx_with_a_message(aws, body, content_type, status, needle):
    got_status, got = call("ingest", "POST", "/records", body, content_type)
    assert got_status == status and needle in got["message"]


def test_bad_records_are_named(aws):
    status, body = call("ingest", "POST", "/records", json.dumps({"records": [GOOD, {**GOOD, "UnitPrice": "abc"}]}))
    assert status == 400 and body["errors"][0]["record"] == 1 and "UnitPrice" in body["errors"][0]["errors"][0]


def test_base64_body_is_decoded(aws):
    event = proxy_event("POST", "/records", {"Content-Type": "application/json"},
                        json.dumps({"records": [GOOD]}).encode())
    event["body"], event["isBase64Encoded"] = base64.b64encode(event["body"].encode()).decode(), True
    response = load_handler("ingest")(event, LambdaContextStub.for_function("ingest"))
    assert response["statusCode"] == 202


def seed_lines(ddb):
    def line(rid, code, qty):
        return {"record_id": rid, "invoice_no": "C536379", "stock_code": code, "description": "X", "quantity": qty,
                "unit_price": Decimal("27.5"), "revenue": Decimal("27.5") * qty, "invoice_ts": "2010-12-01T09:41:00",
                "customer_id": "14527", "country": "United Kingdom", "line_type": "cancellation"}
    dynamodb.save_lines(ddb, "Invoice", "Customer", [line("a", "D", -1), line("b", "D", -2), line("c", "DA", -1)])


def test_get_item_lines_returns_every_line_of_the_pair(aws):
    seed_lines(aws[1])
    status, body = call("query", "GET", "/invoices/C536379/items/d")
    assert status == 200 and body["count"] == 2
    assert sorted(l["quantity"] for l in body["lines"]) == [-2, -1]
    assert body["lines"][0]["unit_price"] == "27.500"


def test_get_invoice_and_customer_invoices(aws):
    seed_lines(aws[1])
    assert call("query", "GET", "/invoices/C536379")[1]["count"] == 3
    status, body = call("query", "GET", "/customers/14527/invoices")
    assert status == 200 and body["invoices"][0]["line_count"] == 3
    assert body["invoices"][0]["total_revenue"] == "-110.000"


@pytest.mark.parametrize("path", ["/invoices/999999", "/invoices/536365/items/85123A", "/customers/1/invoices"])
def test_absent_is_404(aws, path):
    status, body = call("query", "GET", path)
    assert status == 404 and body["message"]


@pytest.mark.parametrize("path", ["/invoices/53!6365", "/invoices/536365/items/A%23B", "/customers/abc/invoices"])
def test_malformed_ids_are_400(aws, path):
    status, body = call("query", "GET", path)
    assert status == 400 and "malformed" in body["message"]


def test_lambdas_do_not_import_pyspark():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import importlib.util, sys\n"
            "for n in ('ingest', 'query'):\n"
            "    s = importlib.util.spec_from_file_location(n, f'lambdas/{n}/app.py')\n"
            "    s.loader.exec_module(importlib.util.module_from_spec(s))\n"
            "print(sorted(m for m in sys.modules if m.startswith('pyspark')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
