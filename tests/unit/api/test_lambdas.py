"""The Lambda handlers with minimal API Gateway proxy events, against moto in-process."""

from __future__ import annotations

import base64
import http.client
import json
import random
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from ecomflow.api import ingest
from ecomflow.local.api_local import LambdaContextStub, load_handler, load_lambda, proxy_event, start_api
from ecomflow.stores import dynamodb

STAFF = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_staff"
CUSTOMERS = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_customers"
# Claims as API Gateway's Cognito authorizer passes them on (every value a string).
PRODUCER = {"iss": STAFF, "token_use": "access", "client_id": "producer1", "sub": "producer1",
            "scope": "ecomflow/records.write"}
ANALYST = {"iss": STAFF, "token_use": "access", "client_id": "staffapp", "sub": "u-1", "username": "ana",
           "cognito:groups": "analysts", "scope": "aws.cognito.signin.user.admin"}
DEFAULT_CLAIMS = {"ingest": PRODUCER, "query": ANALYST}


def customer(customer_id: str) -> dict[str, str]:
    return {"iss": CUSTOMERS, "token_use": "access", "client_id": "shopapp", "sub": f"u-{customer_id}",
            "username": f"customer-{customer_id}", "cognito:groups": "customers",
            "scope": "aws.cognito.signin.user.admin"}


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
    monkeypatch.setenv("ECOMFLOW_STAFF_ISSUER", STAFF)
    monkeypatch.setenv("ECOMFLOW_CUSTOMER_ISSUER", CUSTOMERS)
    monkeypatch.setenv("ECOMFLOW_APP_CLIENTS", "staffapp,shopapp")
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName="records", ShardCount=1)
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.ensure_tables(ddb, "Invoice", "Customer")
        yield kinesis, ddb


def call(name: str, method: str, path: str, body=None, content_type: str | None = "application/json",
         claims: dict[str, str] | None = None, query: dict[str, list[str]] | None = None):
    headers = {"Content-Type": content_type} if content_type else {}
    event = proxy_event(method, path, headers, body, query, claims=claims or DEFAULT_CLAIMS[name])
    response = load_handler(name)(event, LambdaContextStub.for_function(name))
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
                        json.dumps({"records": [GOOD]}).encode(), claims=PRODUCER)
    event["body"], event["isBase64Encoded"] = base64.b64encode(event["body"].encode()).decode(), True
    response = load_handler("ingest")(event, LambdaContextStub.for_function("ingest"))
    assert response["statusCode"] == 202


# --- hostile input: a short 4xx, and a generic 500 only for a bug ---------------------------------

@pytest.mark.parametrize(("body", "content_type", "status", "needle"), [
    ("[" * 10_000 + "]" * 10_000, "application/json", 400, "deeper than 32 levels"),
    ('{"records": [{"Quantity": ' + "9" * 4301 + "}]}", "application/json", 400, "number of 4301 characters"),
    (json.dumps({"records": [GOOD]}), "application/json; charset=undefined", 415, "unsupported charset"),
    (json.dumps({"records": [{**GOOD, "InvoiceNo": "\ud800"}]}), "application/json", 400, "1 of 1 records have"),
    ("A," * 2_400_000 + "\n", "text/csv", 400, "the CSV header must be"),
])
def test_attacks_measured_on_the_ingest_lambda_are_4xx(aws, body, content_type, status, needle):
    got_status, got = call("ingest", "POST", "/records", body, content_type)
    assert got_status == status and needle in got["message"] and len(json.dumps(got)) < 1_000


def test_a_bug_is_a_generic_500_without_details(aws, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(ingest, "parse_records", broken)
    status, body = call("ingest", "POST", "/records", json.dumps({"records": [GOOD]}))
    assert (status, body) == (500, {"statusCode": 500, "message": "internal error; retry later"})


def test_an_event_powertools_cannot_route_is_a_generic_500(aws):
    response = load_handler("ingest")({}, LambdaContextStub.for_function("ingest"))
    assert response["statusCode"] == 500 and json.loads(response["body"])["message"] == "internal error; retry later"


def test_unknown_routes_stay_404_beside_the_500_handler(aws):
    assert call("ingest", "GET", "/records")[0] == 404


FUZZ_SEEDS = (
    (json.dumps({"records": [GOOD, {**GOOD, "Quantity": 6, "UnitPrice": 2.55}]}).encode(), "application/json"),
    (b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
     b'536365,85123A,"HEART, ""RED""",6,12/1/2010 8:26,2.55,17850,United Kingdom\r\n', "text/csv"),
)
FUZZ_PIECES = (b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xfe\xff", b'"', b"\\", b"\\ud800", b"\\udc00", b"[" * 40,
               b"{" * 40, b"]}", b",", b"\r\n", b"\n", b'""', b"9" * 5000, b"1e99999999999999999999", b"NaN",
               b"-", b"null", b'"records":', b"\xc3", b"\xed\xa0\x80", "é".encode(), "\U0001F600".encode())
FUZZ_CHARSETS = ("", "utf-8", "UTF8", "latin1", "iso-8859-1", "us-ascii", "undefined", "utf-16", "utf-7", "rot13",
                 "hex", "idna", '"', "=", "x" * 300, "utf-8\x00")
FUZZ_TYPES = ("application/json", "text/csv", "application/csv", "application/vnd.api+json", "text/plain", "",
              "*/*", ";", "application/json;;", "TEXT/CSV")


def mutated(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(data))
        move = rng.randrange(5)
        if move == 0:
            data = data[:at] + rng.choice(FUZZ_PIECES) + data[at:]
        elif move == 1:
            data = data[:at] + data[at + rng.randint(1, 20):]
        elif move == 2 and data:
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
        elif move == 3:
            data = data[:at]
        else:
            data = data[:at] + data[at:at + rng.randint(1, 60)] * rng.randint(2, 5) + data[at:]
    return data


def fuzz_event(rng: random.Random) -> dict:
    data, content_type = rng.choice(FUZZ_SEEDS)
    if rng.random() < 0.8:
        content_type = rng.choice(FUZZ_TYPES)
    if rng.random() < 0.4:
        content_type += "; charset=" + rng.choice(FUZZ_CHARSETS)
    event = proxy_event("POST", "/records", {"Content-Type": content_type}, mutated(rng, data), claims=PRODUCER)
    roll = rng.random()
    if roll < 0.05:
        event["body"] = (event["body"] or "") + "\ud800"  # a text body no bytes could have made
    elif roll < 0.10:
        event["isBase64Encoded"] = not event["isBase64Encoded"]
    return event


def test_fuzzed_bodies_and_content_types_never_get_a_5xx(aws):
    handler, rng, seen = load_handler("ingest"), random.Random(13), set()
    for _ in range(3_000):
        event = fuzz_event(rng)
        response = handler(event, LambdaContextStub.for_function("ingest"))
        assert response["statusCode"] < 500, (event["headers"], event["body"][:200] if event["body"] else None)
        assert len(response["body"]) < 16_384 and json.loads(response["body"])
        seen.add(int(response["statusCode"]))
    assert {202, 400, 415} <= seen  # the fuzzer reaches acceptance and both kinds of refusal


# --- the same through the local HTTP adapter on 127.0.0.1 -------------------------------------------

def http_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/records", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def as_producer(method: str, resource: str, headers) -> dict[str, str]:
    """An authorizer that lets every request in as a producer: these tests are about bodies, not tokens
    (tests/integration/test_api_access.py checks the tokens, against moto's Cognito)."""
    return PRODUCER


@pytest.fixture
def local_api(aws):
    api = start_api(authorizer=as_producer)
    yield api
    api.stop()


@pytest.mark.parametrize(("body", "content_type", "status", "needle"), [
    (b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "deeper than 32 levels"),
    (json.dumps({"records": [GOOD]}).encode(), "application/json; charset=undefined", 415, "unsupported charset"),
    (b'{"records": [{"InvoiceNo": "\\ud800"}]}', "application/json", 400, "lone surrogate U+D800"),
    (b'{"records": [{"InvoiceNo": "\xff"}]}', "application/json", 400, "not valid utf-8"),
])
def test_local_api_answers_hostile_bodies_with_4xx(local_api, body, content_type, status, needle):
    got_status, got = http_post(local_api.url, body, {"Content-Type": content_type})
    assert got_status == status and needle in json.dumps(got)


def test_local_api_refuses_a_content_length_that_is_not_a_number(local_api):
    got_status, got = http_post(local_api.url, b"{}", {"Content-Type": "application/json", "Content-Length": "x"})
    assert got_status == 400 and "Content-Length" in got["message"]


def test_local_api_refuses_a_content_length_of_5000_digits_unread(local_api):
    got_status, got = http_post(local_api.url, b"{}",
                                {"Content-Type": "application/json", "Content-Length": "9" * 5000})
    assert got_status == 413 and "API Gateway's limit" in got["message"]


def test_local_api_turns_a_handler_crash_into_a_generic_500(aws):
    def crashing(event, context):
        raise RuntimeError("secret internals")

    api = start_api(handlers={"ingest": crashing, "query": crashing}, authorizer=as_producer)
    try:
        status, body = http_post(api.url, b"{}", {"Content-Type": "application/json"})
    finally:
        api.stop()
    assert (status, body) == (500, {"statusCode": 500, "message": "internal error; retry later"})


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
    assert sorted(line["quantity"] for line in body["lines"]) == [-2, -1]
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


# --- Powertools' typed routes: validation answers 400 (not 422), HTTP errors keep the body shape -----

def test_malformed_path_parameters_are_400_with_our_body_not_powertools_422(aws):
    message = "malformed invoice number '53!6365': expected 1-32 ASCII letters and digits, e.g. 536365 or C536379"
    assert call("query", "GET", "/invoices/53!6365") == (400, {"statusCode": 400, "message": message})


def test_every_malformed_path_parameter_is_named(aws):
    status, body = call("query", "GET", "/invoices/53!6365/items/A%23B")
    assert status == 400 and "malformed invoice number" in body["message"] and "malformed stock code" in body["message"]


def test_path_parameters_are_read_as_the_contract_holds_them(aws):
    seed_lines(aws[1])
    status, body = call("query", "GET", "/invoices/%20C536379%09/items/d")  # trimmed, upper-cased
    assert (status, body["invoice_no"], body["stock_code"], body["count"]) == (200, "C536379", "D", 2)
    assert call("query", "GET", "/customers/14527.0/invoices")[1]["customer_id"] == "14527"


@pytest.mark.parametrize(("name", "method", "path"), [
    ("ingest", "GET", "/records"), ("ingest", "DELETE", "/records"), ("ingest", "PUT", "/records"),
    ("ingest", "POST", "/records/1"), ("ingest", "POST", "/nowhere"),
    ("query", "POST", "/invoices/536365"), ("query", "DELETE", "/customers/1/invoices"),
    ("query", "GET", "/invoices"), ("query", "GET", "/invoices/536365/items"), ("query", "GET", "/"),
])
def test_unknown_routes_and_wrong_methods_are_404_with_our_body(aws, name, method, path):
    status, body = call(name, method, path, json.dumps({"records": [GOOD]}))
    assert (status, body) == (404, {"statusCode": 404, "message": "Not found"})


@pytest.mark.parametrize(("records", "errors"), [
    ([{**GOOD, "Quantity": [6]}], [{"record": 0, "errors": ["Quantity must be a string or a number"]}]),
    ([{**GOOD, "Quantity": {"n": 6}}], [{"record": 0, "errors": ["Quantity must be a string or a number"]}]),
    ([None], [{"record": 0, "errors": ["must be an object with the fields InvoiceNo, StockCode, Description, "
                                       "Quantity, InvoiceDate, UnitPrice, CustomerID, Country"]}]),
])
def test_records_the_model_refuses_are_400_naming_each(aws, records, errors):
    status, body = call("ingest", "POST", "/records", json.dumps({"records": records}))
    assert (status, body) == (400, {"statusCode": 400, "message": "1 of 1 records are invalid; nothing was accepted",
                                    "errors": errors})


@pytest.mark.parametrize(("document", "status", "message"), [
    ({"records": None}, 400, '"records" must be an array of objects'),
    ({"records": []}, 400, "the request has no records"),
    ({"records": [GOOD] * 501}, 413, "the request has 501 records; at most 500 are accepted per request"),
    ([GOOD], 400, 'the JSON body must be an object {"records": [...]}'),
])
def test_bodies_of_the_wrong_shape_are_4xx_with_our_body(aws, document, status, message):
    assert call("ingest", "POST", "/records", json.dumps(document)) == (status, {"statusCode": status,
                                                                                 "message": message})


def test_nested_unknown_keys_are_ignored_and_accepted(aws):
    kinesis, _ = aws
    body = {"records": [{**GOOD, "extra": {"a": [{"b": None}]}}], "meta": {"source": [1, 2]}}
    assert call("ingest", "POST", "/records", json.dumps(body)) == (202, {"accepted": 1})
    assert json.loads(stream_records(kinesis)[0]["Data"]) == GOOD


def test_a_stream_that_keeps_refusing_is_503(aws, monkeypatch):
    from ecomflow.errors import DeliveryError

    def refusing(*args, **kwargs):
        raise DeliveryError("1 records were not accepted by stream records after 10 attempts")

    monkeypatch.setattr(ingest, "put_records", refusing)
    assert call("ingest", "POST", "/records", json.dumps({"records": [GOOD]})) == (
        503, {"statusCode": 503, "message": "the stream is not accepting records right now; retry later"})


def test_a_response_that_breaks_its_type_is_a_generic_500_not_422(aws, monkeypatch):
    from ecomflow.api import query

    monkeypatch.setattr(query, "invoice", lambda *args: ["not", "a", "dict"])
    assert call("query", "GET", "/invoices/536365") == (500, {"statusCode": 500,
                                                              "message": "internal error; retry later"})


def test_a_bug_in_the_query_lambda_is_a_generic_500(aws, monkeypatch):
    from ecomflow.api import query

    def broken(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(query, "customer_invoices", broken)
    assert call("query", "GET", "/customers/1/invoices") == (500, {"statusCode": 500,
                                                                    "message": "internal error; retry later"})


def test_the_config_is_read_once_when_the_handler_loads(aws, monkeypatch):
    kinesis, _ = aws
    event = proxy_event("POST", "/records", {"Content-Type": "application/json"}, json.dumps({"records": [GOOD]}),
                        claims=PRODUCER)
    loaded = load_handler("ingest")
    monkeypatch.delenv("ECOMFLOW_STREAM_NAME")
    assert loaded(event, LambdaContextStub.for_function("ingest"))["statusCode"] == 202  # what it read at load
    assert len(stream_records(kinesis)) == 1
    fresh = load_handler("ingest")  # a cold start without the variable: a bug of the deployment, a 500
    assert fresh(event, LambdaContextStub.for_function("ingest"))["statusCode"] == 500


def test_the_boto3_client_is_built_once_per_loaded_handler(aws, monkeypatch):
    from ecomflow import aws as ecomflow_aws

    built = []
    real = ecomflow_aws.client
    def counting(service, *args, **kwargs):
        built.append(service)
        return real(service, *args, **kwargs)

    monkeypatch.setattr(ecomflow_aws, "client", counting)
    module = load_lambda("query")
    for _ in range(3):
        module.handler(proxy_event("GET", "/invoices/536365", claims=ANALYST), LambdaContextStub.for_function("query"))
    assert built == ["dynamodb"]


def test_lambdas_do_not_import_pyspark():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    code = ("import importlib.util, sys\n"
            "for n in ('ingest', 'query'):\n"
            "    s = importlib.util.spec_from_file_location(n, f'lambdas/{n}/app.py')\n"
            "    s.loader.exec_module(importlib.util.module_from_spec(s))\n"
            "print(sorted(m for m in sys.modules if m.startswith('pyspark')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- who may do what, at the Lambdas (claims as API Gateway passes them) -----------------------------

def seed_mixed_invoice(ddb):
    """Invoice 536365 with three lines of customer 17850 and one of customer 13047 (invoices can mix)."""
    def line(rid, code, customer_id):
        return {"record_id": rid, "invoice_no": "536365", "stock_code": code, "description": "X", "quantity": 6,
                "unit_price": Decimal("2.55"), "revenue": Decimal("15.3"), "invoice_ts": "2010-12-01T08:26:00",
                "customer_id": customer_id, "country": "United Kingdom", "line_type": "sale"}
    dynamodb.save_lines(ddb, "Invoice", "Customer", [line("a1", "85123A", "17850"), line("a2", "85123A", "13047"),
                                                      line("a3", "71053", "17850"), line("a4", "22633", "17850")])


def test_a_producer_may_not_read(aws):
    seed_mixed_invoice(aws[1])
    for path in ("/invoices/536365", "/invoices/536365/items/85123A", "/customers/17850/invoices"):
        assert call("query", "GET", path, claims=PRODUCER) == (
            403, {"statusCode": 403, "message": "a producer may not use this route"})


@pytest.mark.parametrize("claims", [ANALYST, customer("17850")], ids=["analyst", "customer"])
def test_readers_may_not_post(aws, claims):
    kinesis, _ = aws
    status, body = call("ingest", "POST", "/records", json.dumps({"records": [GOOD]}), claims=claims)
    assert status == 403 and body["message"].endswith("may not use this route")
    assert stream_records(kinesis) == []


def test_an_analyst_reads_every_line_of_a_mixed_invoice(aws):
    seed_mixed_invoice(aws[1])
    status, body = call("query", "GET", "/invoices/536365", claims=ANALYST)
    assert status == 200 and sorted(line["customer_id"] for line in body["lines"]) == ["13047", "17850", "17850",
                                                                                       "17850"]


def test_a_customer_reads_only_their_own_lines_of_a_mixed_invoice(aws):
    seed_mixed_invoice(aws[1])
    status, body = call("query", "GET", "/invoices/536365", claims=customer("13047"))
    assert (status, body["count"], [line["record_id"] for line in body["lines"]]) == (200, 1, ["a2"])
    status, body = call("query", "GET", "/invoices/536365/items/85123A", claims=customer("17850"))
    assert (status, [line["record_id"] for line in body["lines"]]) == (200, ["a1"])


def test_another_customers_invoice_is_404_like_an_absent_one(aws):
    seed_mixed_invoice(aws[1])
    # the answer an absent invoice gets, so a customer cannot probe which invoice numbers exist
    assert call("query", "GET", "/invoices/999999", claims=customer("99")) == (
        404, {"statusCode": 404, "message": "invoice 999999 not found"})
    assert call("query", "GET", "/invoices/536365", claims=customer("99")) == (
        404, {"statusCode": 404, "message": "invoice 536365 not found"})
    status, body = call("query", "GET", "/invoices/536365/items/71053", claims=customer("13047"))
    assert (status, body["message"]) == (404, "invoice 536365 has no line with stock code 71053")


def test_a_customer_reads_their_own_invoice_list_and_no_one_elses(aws):
    seed_mixed_invoice(aws[1])
    status, body = call("query", "GET", "/customers/17850/invoices", claims=customer("17850"))
    assert status == 200 and body["invoices"][0]["line_count"] == 3
    assert call("query", "GET", "/customers/13047/invoices", claims=customer("17850")) == (
        403, {"statusCode": 403, "message": "a customer may read their own invoices only"})
    assert call("query", "GET", "/customers/17850.0/invoices", claims=customer("17850"))[0] == 200  # the same id


def test_no_claims_are_401_at_both_lambdas(aws):
    for name, method, path in (("ingest", "POST", "/records"), ("query", "GET", "/invoices/536365")):
        event = proxy_event(method, path, {"Content-Type": "application/json"}, json.dumps({"records": [GOOD]}))
        response = load_handler(name)(event, LambdaContextStub.for_function(name))
        assert (response["statusCode"], json.loads(response["body"])) == (
            401, {"statusCode": 401, "message": "Unauthorized"})


def test_a_lambda_without_its_pools_lets_no_one_in(aws, monkeypatch):
    monkeypatch.delenv("ECOMFLOW_STAFF_ISSUER")
    assert call("query", "GET", "/invoices/536365", claims=ANALYST) == (
        500, {"statusCode": 500, "message": "internal error; retry later"})


# --- pages ------------------------------------------------------------------------------------------

def test_an_invoice_is_read_in_pages(aws):
    seed_mixed_invoice(aws[1])
    seen, token, pages_read = [], None, 0
    while True:
        query = {"limit": ["3"], **({"page": [token]} if token else {})}
        status, body = call("query", "GET", "/invoices/536365", claims=ANALYST, query=query)
        assert status == 200 and body["count"] == len(body["lines"]) <= 3
        seen += [line["record_id"] for line in body["lines"]]
        pages_read += 1
        token = body["next_page"]
        if token is None:
            break
    assert sorted(seen) == ["a1", "a2", "a3", "a4"] and len(seen) == 4 and pages_read == 2


def test_a_customer_pages_through_their_own_lines_only(aws):
    seed_mixed_invoice(aws[1])
    status, first = call("query", "GET", "/invoices/536365", claims=customer("17850"), query={"limit": ["2"]})
    assert status == 200 and first["count"] == 2 and first["next_page"]
    status, second = call("query", "GET", "/invoices/536365", claims=customer("17850"),
                          query={"limit": ["2"], "page": [first["next_page"]]})
    ids = [line["record_id"] for line in first["lines"] + second["lines"]]
    assert status == 200 and sorted(ids) == ["a1", "a3", "a4"]


def test_a_page_token_cannot_be_taken_to_another_invoice_or_customer(aws):
    seed_mixed_invoice(aws[1])
    token = call("query", "GET", "/invoices/536365", claims=ANALYST, query={"limit": ["1"]})[1]["next_page"]
    for path in ("/invoices/536366", "/invoices/536365/items/85123A", "/customers/536365/invoices"):
        status, body = call("query", "GET", path, claims=ANALYST, query={"page": [token]})
        assert status == 400 and "page token" in body["message"]


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_page_size_out_of_bounds_is_400(aws, limit):
    status, body = call("query", "GET", "/invoices/536365", claims=ANALYST, query={"limit": [limit]})
    assert status == 400 and body["message"].startswith("limit:")


def test_the_default_page_holds_500_lines(aws):
    from ecomflow.api import pages

    def line(i):
        return {"record_id": f"r{i:04d}", "invoice_no": "536365", "stock_code": "85123A", "description": "X",
                "quantity": 1, "unit_price": Decimal("1"), "revenue": Decimal("1"),
                "invoice_ts": "2010-12-01T08:26:00", "customer_id": "17850", "country": "United Kingdom",
                "line_type": "sale"}
    dynamodb.save_lines(aws[1], "Invoice", "Customer", [line(i) for i in range(pages.DEFAULT_PAGE_SIZE + 1)])
    status, body = call("query", "GET", "/invoices/536365", claims=ANALYST)
    assert (status, body["count"], body["next_page"] is not None) == (200, 500, True)
