"""DynamoDB `Invoice` and `Customer` tables: every line kept, every write idempotent.

Layout (keys are strings; `C536379` is an invoice number):
- `Invoice`: partition key `InvoiceNo`, sort key `StockCode`. The same (InvoiceNo, StockCode) occurs
  on several distinct lines of one invoice, and none may be lost, so each LINE is its own item whose
  sort key is `<StockCode>#<record_id>`; plain attributes `stock_code` and `record_id` repeat the
  parts. "Every line of a pair" is a Query with `begins_with(StockCode, "<code>#")`; the `#` stops
  `85123` from matching `85123A`. A line delivered twice has the same record_id, hence the same key,
  and its PutItem overwrites itself: never counted twice. Items hold only values derived from the
  line (no ingestion time), so a redelivery writes identical bytes.
- `Customer`: partition key `CustomerID`, sort key `InvoiceNo`: one summary of that customer's
  lines on that invoice. It is recomputed from the invoice's lines in `Invoice` (a consistent
  Query) after they are written, never incremented, so redelivery cannot double it. Lines without
  a customer have no summary.

Writes go through BatchWriteItem: keys deduplicated first (AWS rejects a batch that names a key
twice), chunks of 25, `UnprocessedItems` re-sent with backoff; with `workers` > 1 the chunks are
sent by that many threads at once (boto3 clients are thread-safe; each chunk keeps its own retries).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ecomflow.aws import ClientSettings
from ecomflow.errors import DeliveryError
from ecomflow.retry import DEFAULT_RETRY, RetryPolicy

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 25
MAX_GET_ITEMS = 100
SORT_KEY_SEPARATOR = "#"
INVOICE_KEY: tuple[str, str] = ("InvoiceNo", "StockCode")
CUSTOMER_KEY: tuple[str, str] = ("CustomerID", "InvoiceNo")
MONEY = Decimal("0.001")  # decimal(12,3) / decimal(18,3) of the curated contract

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class WriteStats:
    """Items written, BatchWriteItem calls made, items re-sent after `UnprocessedItems`, duplicates folded."""

    items: int = 0
    calls: int = 0
    retried: int = 0
    duplicates: int = 0

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(self.items + other.items, self.calls + other.calls, self.retried + other.retried,
                          self.duplicates + other.duplicates)


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Python item (str, int, Decimal, list) in DynamoDB's typed JSON; None values are left out."""
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def line_sort_key(stock_code: str, record_id: str) -> str:
    """The `Invoice` sort key of one line: `<StockCode>#<record_id>`."""
    return f"{stock_code}{SORT_KEY_SEPARATOR}{record_id}"


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(MONEY)


def _timestamp(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if isinstance(value, datetime) else str(value)


def invoice_item(line: Mapping[str, Any]) -> dict[str, Any]:
    """The `Invoice` item of one curated line (a Row's `asDict()` of the curated contract)."""
    return {
        "InvoiceNo": line["invoice_no"],
        "StockCode": line_sort_key(line["stock_code"], line["record_id"]),
        "record_id": line["record_id"],
        "stock_code": line["stock_code"],
        "description": line.get("description"),
        "quantity": int(line["quantity"]),
        "unit_price": money(line["unit_price"]),
        "revenue": money(line["revenue"]),
        "invoice_ts": _timestamp(line["invoice_ts"]),
        "customer_id": line.get("customer_id"),
        "country": line["country"],
        "line_type": line["line_type"],
    }


def merge_summary(existing: Mapping[str, Any] | None, lines: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The `Customer` item of one (customer, invoice) with `lines` (`Invoice` items) counted in.

    The summary keeps the ids of the lines it counts (`record_ids`), so a redelivered line is
    never counted twice, and adding lines needs only the summary itself, never a Query of the
    invoice's lines. Returns None when every line is already counted (nothing to write).
    """
    counted = set(existing.get("record_ids", ())) if existing else set()
    new = {line["record_id"]: line for line in lines if line["record_id"] not in counted}
    if not new:
        return None
    first = min(new.values(), key=lambda l: (l["invoice_ts"], l["StockCode"]))
    summary = dict(existing) if existing else {
        "CustomerID": first["customer_id"], "InvoiceNo": first["InvoiceNo"], "invoice_ts": first["invoice_ts"],
        "country": first["country"], "line_count": 0, "total_quantity": 0, "total_revenue": Decimal("0.000"),
        "line_types": [], "stock_codes": [], "record_ids": [],
    }
    if first["invoice_ts"] < summary["invoice_ts"]:
        summary.update(invoice_ts=first["invoice_ts"], country=first["country"])
    stock_codes = sorted(set(summary["stock_codes"]) | {l["stock_code"] for l in new.values()})
    summary.update(
        line_count=int(summary["line_count"]) + len(new),
        item_count=len(stock_codes),
        total_quantity=int(summary["total_quantity"]) + sum(int(l["quantity"]) for l in new.values()),
        total_revenue=money(summary["total_revenue"]) + sum((money(l["revenue"]) for l in new.values()),
                                                             Decimal("0.000")),
        line_types=sorted(set(summary["line_types"]) | {l["line_type"] for l in new.values()}),
        stock_codes=stock_codes,
        record_ids=sorted(counted | set(new)),
    )
    return summary


def customer_groups(invoice_lines: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """`Invoice` items grouped by their `Customer` key (customer, invoice); lines without a customer are skipped."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for line in invoice_lines:
        if line.get("customer_id"):
            groups[(line["customer_id"], line["InvoiceNo"])].append(line)
    return dict(sorted(groups.items()))


def customer_summaries(invoice_lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fresh `Customer` items summarising `Invoice` items per (customer, invoice)."""
    return [merge_summary(None, lines) for lines in customer_groups(invoice_lines).values()]


def get_items(client: Any, table: str, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The items of `keys` that exist (BatchGetItem, 100 keys a call, `UnprocessedKeys` re-sent)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), MAX_GET_ITEMS):
        pending: dict[str, Any] = {table: {"Keys": [to_attributes(k) for k in keys[start:start + MAX_GET_ITEMS]],
                                           "ConsistentRead": True}}
        for attempt in range(1, DEFAULT_RETRY.max_attempts + 1):
            response = client.batch_get_item(RequestItems=pending)
            found.extend(from_attributes(item) for item in response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(DEFAULT_RETRY.delay(attempt))
        if pending:
            raise DeliveryError(f"keys of {table} still unprocessed after {DEFAULT_RETRY.max_attempts} attempts")
    return found


def dedupe_by_key(items: Iterable[Mapping[str, Any]], key: Sequence[str]) -> tuple[list[Mapping[str, Any]], int]:
    """Keep the last item per key (a BatchWriteItem may not name a key twice); returns (items, folded)."""
    by_key: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    count = 0
    for item in items:
        by_key[tuple(item[k] for k in key)] = item
        count += 1
    return list(by_key.values()), count - len(by_key)


def write_items(client: Any, table: str, items: Iterable[Mapping[str, Any]], key: Sequence[str], *,
                retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep,
                workers: int = 1) -> WriteStats:
    """Put Python `items` into `table` with BatchWriteItem: deduplicated by `key`, 25 a call, retried.

    `workers` chunks are in flight at once (1: one after the other).

    Raises:
        DeliveryError: some items were still unprocessed after `retry.max_attempts` attempts.
    """
    unique, folded = dedupe_by_key(items, key)
    requests = [{"PutRequest": {"Item": to_attributes(item)}} for item in unique]
    chunks = [requests[start:start + MAX_BATCH_ITEMS] for start in range(0, len(requests), MAX_BATCH_ITEMS)]

    def send(pending: list[dict[str, Any]]) -> tuple[int, int]:
        calls = retried = 0
        for attempt in range(1, retry.max_attempts + 1):
            response = client.batch_write_item(RequestItems={table: pending})
            calls += 1
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                return calls, retried
            log.warning("batch_write_item: %d items unprocessed in %s, attempt %d of %d", len(pending), table,
                        attempt, retry.max_attempts)
            retried += len(pending)
            if attempt < retry.max_attempts:
                sleep(retry.delay(attempt))
        raise DeliveryError(f"{len(pending)} items were not written to {table} after {retry.max_attempts} attempts")

    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(min(workers, len(chunks)), thread_name_prefix=f"write-{table}") as pool:
            sent = list(pool.map(send, chunks))  # the first chunk's error is raised once all have ended
    else:
        sent = [send(chunk) for chunk in chunks]
    return WriteStats(items=len(unique), calls=sum(c for c, _ in sent), retried=sum(r for _, r in sent),
                      duplicates=folded)


def query_items(client: Any, table: str, key_condition: str, values: Mapping[str, Any],
                consistent: bool = False) -> list[dict[str, Any]]:
    """Every item a Query returns, all pages, as Python values."""
    paginator = client.get_paginator("query")
    pages = paginator.paginate(TableName=table, KeyConditionExpression=key_condition,
                               ExpressionAttributeValues=to_attributes(values), ConsistentRead=consistent)
    return [from_attributes(item) for page in pages for item in page.get("Items", [])]


def invoice_lines(client: Any, table: str, invoice_no: str, consistent: bool = False) -> list[dict[str, Any]]:
    """Every line of one invoice, ordered by sort key."""
    return query_items(client, table, "InvoiceNo = :no", {":no": invoice_no}, consistent)


def item_lines(client: Any, table: str, invoice_no: str, stock_code: str) -> list[dict[str, Any]]:
    """Every line of one (InvoiceNo, StockCode) pair."""
    return query_items(client, table, "InvoiceNo = :no AND begins_with(StockCode, :prefix)",
                       {":no": invoice_no, ":prefix": stock_code + SORT_KEY_SEPARATOR})


def customer_invoices(client: Any, table: str, customer_id: str) -> list[dict[str, Any]]:
    """The invoice summaries of one customer, ordered by invoice number."""
    return query_items(client, table, "CustomerID = :id", {":id": customer_id})


def save_lines(client: Any, invoice_table: str, customer_table: str, lines: Iterable[Mapping[str, Any]], *,
               retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep,
               workers: int = 1) -> WriteStats:
    """Write curated lines to `Invoice`, then count them into the `Customer` summaries of their invoices.

    `workers`: BatchWriteItem calls in flight at once (`write_items`).

    One writer per invoice is assumed (an invoice's records share a Kinesis partition key, hence a
    shard, hence one micro-batch at a time), so the read of a summary and its write cannot race.
    """
    items = [invoice_item(line) for line in lines]
    stats = write_items(client, invoice_table, items, INVOICE_KEY, retry=retry, sleep=sleep, workers=workers)
    groups = customer_groups(items)
    existing = {(i["CustomerID"], i["InvoiceNo"]): i for i in get_items(
        client, customer_table, [{"CustomerID": c, "InvoiceNo": n} for c, n in groups])}
    merged = (merge_summary(existing.get(key), lines) for key, lines in groups.items())
    summaries = [summary for summary in merged if summary is not None]
    stats = stats + write_items(client, customer_table, summaries, CUSTOMER_KEY, retry=retry, sleep=sleep,
                                workers=workers)
    log.info("DynamoDB: %d lines to %s, %d summaries to %s", len(items), invoice_table, len(summaries),
             customer_table)
    return stats


def save_partition(settings: ClientSettings, invoice_table: str, customer_table: str,
                   rows: Iterable[Any], workers: int = 1) -> Iterator[WriteStats]:
    """Write one Spark partition of curated rows (`save_lines`); runs on an executor, one client per process.

    Meant for `rdd.mapPartitions` over rows partitioned by invoice number, so that each invoice's
    `Customer` summaries are read and written by one task only. Yields the partition's WriteStats.
    """
    lines = [row.asDict() for row in rows]
    if not lines:
        yield WriteStats()
        return
    yield save_lines(settings.client(), invoice_table, customer_table, lines, workers=workers)


def ensure_tables(client: Any, invoice_table: str, customer_table: str) -> None:
    """Create both tables (on-demand, keys as in cloudformation/streaming.yaml) where missing; wait until active."""
    for table, (hash_key, range_key) in ((invoice_table, INVOICE_KEY), (customer_table, CUSTOMER_KEY)):
        try:
            client.describe_table(TableName=table)
            continue
        except client.exceptions.ResourceNotFoundException:
            pass
        client.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"},
                                  {"AttributeName": range_key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"},
                       {"AttributeName": range_key, "KeyType": "RANGE"}],
        )
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        log.info("created DynamoDB table %s", table)
