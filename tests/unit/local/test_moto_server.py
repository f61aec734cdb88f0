"""The local stack's patched moto answers exactly as moto does (`ecomflow.local.moto_server`).

Each test asks in-process moto the same questions twice, unpatched and patched (monkeypatch puts
moto back afterwards), and compares the answers.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.kinesis.models import Shard

from ecomflow.local import moto_server
from ecomflow.stores import dynamodb

REGION = "us-east-1"
LINES = [  # (InvoiceNo, StockCode#record_id): repeated pairs, prefixes that must not match, a C invoice
    ("536365", "85123A#r1"), ("536365", "85123A#r2"), ("536365", "85123#r3"), ("536365", "71053#r4"),
    ("536366", "22633#r5"), ("C536379", "D#r6"), ("536367", "84879#r7"), ("536367", "22745#r8"),
]


@pytest.fixture
def patched(monkeypatch):
    """Apply the patches for one test; monkeypatch restores moto's own methods afterwards."""
    def apply() -> None:
        for cls, name in ((Table, "all_items"), (Table, "query"), (Shard, "get_max_sequence_number")):
            monkeypatch.setattr(cls, name, getattr(cls, name))
        moto_server._patch_kinesis()
        moto_server._patch_dynamodb()
    return apply


def dynamodb_answers(client) -> list:
    """What the query API asks of `Invoice`, plus a paged and a backwards Query, a GSI Query and a Scan."""
    answers = [dynamodb.invoice_lines(client, "Invoice", no) for no in ("536365", "536366", "C536379", "999999")]
    answers.append(dynamodb.item_lines(client, "Invoice", "536365", "85123A"))
    answers.append(dynamodb.item_lines(client, "Invoice", "536365", "85123"))
    pages, start = [], None
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        page = client.query(TableName="Invoice", KeyConditionExpression="InvoiceNo = :no", Limit=2,
                            ExpressionAttributeValues={":no": {"S": "536365"}}, **kwargs)
        pages.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    answers.append(pages)
    answers.append(client.query(TableName="Invoice", KeyConditionExpression="InvoiceNo = :no", ScanIndexForward=False,
                                ExpressionAttributeValues={":no": {"S": "536367"}})["Items"])
    answers.append(client.query(TableName="Invoice", IndexName="by_code", KeyConditionExpression="stock_code = :c",
                                ExpressionAttributeValues={":c": {"S": "85123A"}})["Items"])
    answers.append(sorted(map(str, client.scan(TableName="Invoice")["Items"])))
    return answers


def ask_dynamodb() -> list:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="Invoice", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("InvoiceNo", "StockCode",
                                                                                       "stock_code")],
            KeySchema=[{"AttributeName": "InvoiceNo", "KeyType": "HASH"},
                       {"AttributeName": "StockCode", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_code", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "stock_code", "KeyType": "HASH"}]}],
        )
        items = [{"InvoiceNo": no, "StockCode": key, "stock_code": key.split("#")[0], "quantity": i}
                 for i, (no, key) in enumerate(LINES)]
        dynamodb.write_items(client, "Invoice", items, dynamodb.INVOICE_KEY)
        return dynamodb_answers(client)


def ask_kinesis() -> list:
    with mock_aws():
        client = boto3.client("kinesis", region_name=REGION)
        client.create_stream(StreamName="records", ShardCount=1)
        sent = [client.put_record(StreamName="records", Data=f"line {i}".encode(), PartitionKey=str(i))
                for i in range(5)]
        sent += client.put_records(StreamName="records", Records=[
            {"Data": f"line {i}".encode(), "PartitionKey": str(i)} for i in range(5, 9)])["Records"]
        iterator = client.get_shard_iterator(StreamName="records", ShardId="shardId-000000000000",
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = client.get_records(ShardIterator=iterator)["Records"]
        return [[r["SequenceNumber"] for r in sent], [(r["SequenceNumber"], r["Data"]) for r in got]]


def test_patched_dynamodb_queries_answer_as_moto_does(patched):
    unpatched = ask_dynamodb()
    patched()
    assert ask_dynamodb() == unpatched
    assert [len(lines) for lines in unpatched[:6]] == [4, 1, 1, 0, 2, 1]  # 85123 does not match 85123A


def test_patched_kinesis_numbers_records_as_moto_does(patched):
    unpatched = ask_kinesis()
    patched()
    assert ask_kinesis() == unpatched
    assert len(set(unpatched[0])) == 9 and [s for s, _ in unpatched[1]] == unpatched[0]


def test_patch_is_applied_once(patched):
    patched()
    query = Table.query
    moto_server.patch()  # the server process patches before serving; patching again changes nothing
    moto_server.patch()
    assert Table.query is query and Shard.get_max_sequence_number is moto_server._last_sequence_number
