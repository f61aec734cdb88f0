"""DynamoDB `Invoice` and `Customer` tables: every line kept, every write idempotent.

Layout (keys are strings; `C536379` is an invoice number):
- `Invoice`: partition key `InvoiceNo`, sort key `StockCode`. The same (InvoiceNo, StockCode) occurs
  on several distinct lines of one invoice, and none may be lost, so each LINE is its own item whose
  sort key is `<StockCode>#<record_id>`; plain attributes `stock_code` and `record_id` repeat the
  parts. "Every line of a pair" is a Query with `begins_with(StockCode, "<code>#")`; the `#` stops
  `85123` from matching `85123A`, and no stock code can hold a `#` (`ecomflow.contract`; lines that
  break the grammar are refused here too), so no value can forge another line's key. A line
  delivered twice has the same record_id, hence the same key, and its PutItem overwrites itself:
  never counted twice. Items hold only values derived from the line (no ingestion time), so a
  redelivery writes identical bytes.
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ecomflow import contract
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
class Rejected:
    """An item DynamoDB refused (a ValidationException naming it alone): its key and DynamoDB's message."""

    table: str
    key: tuple[str, ...]
    record_id: str | None
    message: str


@dataclass(frozen=True)
class WriteStats:
    """Items written, calls made, items re-sent after `UnprocessedItems`, duplicates folded, items refused."""

    items: int = 0
    calls: int = 0
    retried: int = 0
    duplicates: int = 0
    rejected: tuple[Rejected, ...] = ()

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(self.items + other.items, self.calls + other.calls, self.retried + other.retried,
                          self.duplicates + other.duplicates, self.rejected + other.rejected)


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


def customer_summary(lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The `Customer` item of one (customer, invoice), from every `Invoice` item of it.

    Its size is bounded whatever the invoice's size: counts and totals, and the set of line
    types (at most five), but no list of the lines or their stock codes.
    """
    first = min(lines, key=lambda line: (line["invoice_ts"], line["StockCode"]))
    return {
        "CustomerID": first["customer_id"], "InvoiceNo": first["InvoiceNo"], "invoice_ts": first["invoice_ts"],
        "country": first["country"], "line_count": len(lines),
        "item_count": len({line["stock_code"] for line in lines}),
        "total_quantity": sum(int(line["quantity"]) for line in lines),
        "total_revenue": sum((money(line["revenue"]) for line in lines), Decimal("0.000")),
        "line_types": sorted({line["line_type"] for line in lines}),
    }


def customer_groups(invoice_lines: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """`Invoice` items grouped by their `Customer` key (customer, invoice); lines without a customer are skipped."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for line in invoice_lines:
        if line.get("customer_id"):
            groups[(line["customer_id"], line["InvoiceNo"])].append(line)
    return dict(sorted(groups.items()))


def customer_summaries(invoice_lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`Customer` items summarising `Invoice` items per (customer, invoice)."""
    return [customer_summary(lines) for lines in customer_groups(invoice_lines).values()]


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


def _is_validation_error(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ValidationException"


def write_items(client: Any, table: str, items: Iterable[Mapping[str, Any]], key: Sequence[str], *,
                retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep,
                workers: int = 1) -> WriteStats:
    """Put Python `items` into `table` with BatchWriteItem: deduplicated by `key`, 25 a call, retried.

    `workers` chunks are in flight at once (1: one after the other). A chunk DynamoDB refuses as
    a whole (ValidationException: an item over 400 KB, a key too long, a value it will not take)
    is put item by item, so only the items that are refused themselves are left out; they come
    back in `WriteStats.rejected` for the caller's dead-letter place, and the rest is written.

    Raises:
        DeliveryError: some items were still unprocessed after `retry.max_attempts` attempts.
    """
    unique, folded = dedupe_by_key(items, key)
    chunks = [unique[start:start + MAX_BATCH_ITEMS] for start in range(0, len(unique), MAX_BATCH_ITEMS)]

    def send(chunk: list[Mapping[str, Any]]) -> WriteStats:
        pending = [{"PutRequest": {"Item": to_attributes(item)}} for item in chunk]
        calls = retried = 0
        for attempt in range(1, retry.max_attempts + 1):
            try:
                response = client.batch_write_item(RequestItems={table: pending})
            except ClientError as error:
                if not _is_validation_error(error):
                    raise
                return one_by_one(chunk, calls + 1)
            calls += 1
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                return WriteStats(items=len(chunk), calls=calls, retried=retried)
            log.warning("batch_write_item: %d items unprocessed in %s, attempt %d of %d", len(pending), table,
                        attempt, retry.max_attempts)
            retried += len(pending)
            if attempt < retry.max_attempts:
                sleep(retry.delay(attempt))
        raise DeliveryError(f"{len(pending)} items were not written to {table} after {retry.max_attempts} attempts")

    def one_by_one(chunk: list[Mapping[str, Any]], calls: int) -> WriteStats:
        rejected = []
        for item in chunk:
            calls += 1
            try:
                client.put_item(TableName=table, Item=to_attributes(item))  # the client's own retries apply
            except ClientError as error:
                if not _is_validation_error(error):
                    raise
                message = error.response.get("Error", {}).get("Message", "")
                rejected.append(Rejected(table, tuple(str(item[k]) for k in key), item.get("record_id"),
                                         message[:300]))
                log.warning("DynamoDB refused an item of %s (%s): %s", table, rejected[-1].key, message[:300])
        return WriteStats(items=len(chunk) - len(rejected), calls=calls, rejected=tuple(rejected))

    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(min(workers, len(chunks)), thread_name_prefix=f"write-{table}") as pool:
            sent = list(pool.map(send, chunks))  # the first chunk's error is raised once all have ended
    else:
        sent = [send(chunk) for chunk in chunks]
    return sum(sent, WriteStats(duplicates=folded))


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


@dataclass(frozen=True)
class Page:
    """One page of a Query: its items in sort-key order, and the sort key to go on after (None: no more)."""

    items: list[dict[str, Any]]
    next_sort_key: str | None


def query_page(client: Any, table: str, key: tuple[str, str], partition: str, *, limit: int,
               after: str | None = None, sort_prefix: str | None = None, customer_id: str | None = None) -> Page:
    """Up to `limit` items of one partition, in sort-key order, from just after the sort key `after`.

    `sort_prefix` keeps the items whose sort key begins with it; `customer_id` keeps the items whose
    `customer_id` is that one (a filter: DynamoDB reads the others too, up to 1 MB a call, so the
    pages are read on until `limit` items are kept or the partition ends). A page may end exactly
    where the partition does and still name a next sort key (DynamoDB cannot tell); the page after
    is then empty.
    """
    hash_key, range_key = key
    condition = "#h = :h" + (" AND begins_with(#r, :prefix)" if sort_prefix is not None else "")
    names = {"#h": hash_key, **({"#r": range_key} if sort_prefix is not None else {})}
    values: dict[str, Any] = {":h": partition, **({":prefix": sort_prefix} if sort_prefix is not None else {})}
    request: dict[str, Any] = {"TableName": table, "KeyConditionExpression": condition,
                               "ExpressionAttributeNames": names}
    if customer_id is not None:
        request["FilterExpression"] = "customer_id = :customer"
        values[":customer"] = customer_id
    request["ExpressionAttributeValues"] = to_attributes(values)
    items: list[dict[str, Any]] = []
    start = after
    while True:
        room = limit - len(items)
        extra: dict[str, Any] = {} if customer_id is not None else {"Limit": room}
        if start is not None:
            extra["ExclusiveStartKey"] = to_attributes({hash_key: partition, range_key: start})
        answer = client.query(**request, **extra)
        got = [from_attributes(item) for item in answer.get("Items", [])]
        if len(got) > room:  # a filtered read kept more than fit: go on after the last one kept
            items += got[:room]
            return Page(items, items[-1][range_key])
        items += got
        last = answer.get("LastEvaluatedKey")
        if not last:
            return Page(items, None)
        start = from_attributes(last)[range_key]
        if len(items) == limit:
            return Page(items, start)


def save_lines(client: Any, invoice_table: str, customer_table: str, lines: Iterable[Mapping[str, Any]], *,
               retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep,
               workers: int = 1) -> WriteStats:
    """Write curated lines to `Invoice`, then rebuild the `Customer` summaries of their invoices.

    A summary is recomputed from a consistent Query of its invoice's lines, never incremented, so
    a redelivered line cannot be counted twice and the item holds no list that grows with the
    invoice. `workers`: BatchWriteItem calls in flight at once (`write_items`).

    One writer per invoice is assumed (the streaming sink partitions a batch by invoice number,
    and micro-batches run one after the other), so the Query and the summary's write cannot race.
    """
    keyed: list[Mapping[str, Any]] = []
    unkeyable: list[Mapping[str, Any]] = []
    for line in lines:
        (keyed if contract.is_invoice_no(line["invoice_no"]) and contract.is_stock_code(line["stock_code"])
         else unkeyable).append(line)
    items = [invoice_item(line) for line in keyed]
    stats = write_items(client, invoice_table, items, INVOICE_KEY, retry=retry, sleep=sleep, workers=workers)
    if unkeyable:  # the transforms quarantine these; a line that got here anyway is not given a forged key
        stats = stats + WriteStats(rejected=tuple(
            Rejected(invoice_table, (line["invoice_no"], line["stock_code"]), line["record_id"],
                     "the invoice number or stock code is outside the contract's grammar") for line in unkeyable))
    invoices = sorted({number for _, number in customer_groups(items)})
    stored = [line for number in invoices for line in invoice_lines(client, invoice_table, number, consistent=True)]
    summaries = customer_summaries(stored)
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
