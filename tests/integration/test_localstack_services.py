"""The local stack for real: processes, ports, boto3 over HTTP to moto, and PostgreSQL 15 MERGE."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from ecomflow import aws
from ecomflow.cli.main import main as cli_main
from ecomflow.errors import PortInUseError
from ecomflow.local import localstack

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir():
    """A temporary state folder the `postgres` OS user can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="ecomflow-test-stack-"))
    path.chmod(0o755)
    yield path
    localstack.down(localstack.StackSettings.from_env(state_dir=path))
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def taken_port():
    """A loopback port held by a listening socket that is not ours."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_up_status_down_round_trip(state_dir):
    settings = localstack.StackSettings.from_env(state_dir=state_dir, moto_port=0, pg_port=0)

    first = localstack.up(settings)
    again = localstack.up(settings)
    running = localstack.status(settings)
    written = json.loads((state_dir / "endpoints.json").read_text())
    stopped = localstack.down(settings)
    stopped_again = localstack.down(settings)
    after = localstack.status(settings)

    assert (again.moto.pid, again.postgres.pid) == (first.moto.pid, first.postgres.pid)
    assert running["running"] and running["moto"]["alive"] and running["postgres"]["alive"]
    assert localstack.Endpoints.from_dict(written) == first
    assert (stopped, stopped_again) == (True, False)
    assert after["running"] is False
    assert not (state_dir / "endpoints.json").exists()


def test_cli_local_up_status_down(state_dir, capsys):
    args = ["local", "--state-dir", str(state_dir), "--moto-port", "0", "--pg-port", "0"]

    assert cli_main([*args[:1], "up", *args[1:]]) == 0
    started = json.loads(capsys.readouterr().out)
    assert cli_main([*args[:1], "status", *args[1:]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert cli_main([*args[:1], "down", *args[1:]]) == 0

    assert shown["running"] is True
    assert shown["postgres"]["dsn"] == started["postgres"]["dsn"]
    assert shown["aws"]["endpoint_url"] == started["moto"]["endpoint_url"]


def test_taken_port_is_a_clear_error_and_starts_nothing(state_dir, taken_port):
    settings = localstack.StackSettings.from_env(state_dir=state_dir, moto_port=0, pg_port=taken_port)

    with pytest.raises(PortInUseError, match=f"127.0.0.1:{taken_port}.*taken"):
        localstack.up(settings)

    assert localstack.status(settings)["running"] is False
    assert not (state_dir / "pg" / "data" / "postmaster.pid").exists()


def test_cli_reports_a_taken_port_in_one_line(state_dir, taken_port, caplog):
    code = cli_main(["local", "up", "--state-dir", str(state_dir), "--moto-port", str(taken_port)])

    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert code == 2
    assert len(errors) == 1 and f"moto server cannot listen on 127.0.0.1:{taken_port}" in errors[0]


def test_boto3_clients_go_to_the_moto_server(local_stack):
    kinesis = aws.client("kinesis")

    assert kinesis.meta.endpoint_url == local_stack.endpoint_url


def test_kinesis_stream_round_trip(local_stack):
    kinesis = aws.client("kinesis")
    stream = _unique("sales")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})

    kinesis.put_record(StreamName=stream, Data=b'{"InvoiceNo": "536365"}', PartitionKey="536365")
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]

    assert [record["Data"] for record in records] == [b'{"InvoiceNo": "536365"}']


def test_dynamodb_table_round_trip(local_stack):
    table_name = _unique("Invoice")
    dynamodb = aws.resource("dynamodb")
    table = dynamodb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "InvoiceNo", "KeyType": "HASH"},
                   {"AttributeName": "StockCode", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "InvoiceNo", "AttributeType": "S"},
                              {"AttributeName": "StockCode", "AttributeType": "S"}])
    table.wait_until_exists()

    table.put_item(Item={"InvoiceNo": "C536379", "StockCode": "D", "Quantity": -1})
    item = table.get_item(Key={"InvoiceNo": "C536379", "StockCode": "D"})["Item"]

    assert item == {"InvoiceNo": "C536379", "StockCode": "D", "Quantity": -1}


def test_sns_message_reaches_a_subscribed_sqs_queue(local_stack):
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name=_unique("storage-updated"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=_unique("listener"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})

    sns.publish(TopicArn=topic_arn, Message="partitions year=2011/month=12 published", Subject="storage updated")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)["Messages"]

    assert [message["Body"] for message in messages] == ["partitions year=2011/month=12 published"]


def test_postgres_15_runs_merge(pg_database):
    with psycopg.connect(pg_database.dsn) as conn:
        conn.execute("CREATE TABLE sales (record_id text PRIMARY KEY, quantity int NOT NULL)")
        conn.execute("CREATE TABLE sales_staging (record_id text, quantity int)")
        conn.execute("INSERT INTO sales VALUES ('a', 1), ('b', 2)")
        conn.execute("INSERT INTO sales_staging VALUES ('b', 20), ('c', 30)")
        merge = """
            MERGE INTO sales AS target USING sales_staging AS source ON target.record_id = source.record_id
            WHEN MATCHED THEN UPDATE SET quantity = source.quantity
            WHEN NOT MATCHED THEN INSERT (record_id, quantity) VALUES (source.record_id, source.quantity)
        """
        conn.execute(merge)
        conn.execute(merge)  # idempotent: a replay changes nothing
        rows = conn.execute("SELECT record_id, quantity FROM sales ORDER BY record_id").fetchall()

    assert rows == [("a", 1), ("b", 20), ("c", 30)]


def test_endpoints_name_the_jdbc_driver(local_stack):
    postgres = local_stack.postgres

    assert postgres.jdbc_jar_present and Path(postgres.jdbc_jar).is_file()
    assert postgres.jdbc_url == f"jdbc:postgresql://127.0.0.1:{postgres.port}/ecomflow"
