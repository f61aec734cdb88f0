"""The local stack's moto server, with two of moto's lookups made as cheap as AWS's.

    python -m ecomflow.local.moto_server -H 127.0.0.1 -p 5000     # = python -m moto.server, patched

moto (5.2.5) is a faithful stand-in for what its APIs answer, but two of its lookups cost time in
proportion to everything the stand-in holds, where AWS's cost is bounded:

- Kinesis: appending a record asks the shard for its last sequence number by copying every key
  of the shard (`list(records.keys())[-1]`), so filling a shard is quadratic. Replaying the real
  file (541,909 lines) through the local API would slow to a crawl.
- DynamoDB: a Query by partition key sorts and scans every item of the table
  (`Table.all_items()`), 60 ms at 6,000 items and 200 ms at 20,000; `GET /invoices/{no}` is
  such a Query. DynamoDB reads one partition.

Profiled while the streaming benchmark ran, these two took about half of the server's time
(docs/benchmarks-streaming.md). The patches below give the same answers from the same data
structures: the last key of the shard's ordered dict, and for a Query of the table (not of an
index) only the items under its partition key, in the order `all_items` gives them. Everything
else is moto's own code. `tests/unit/local/test_moto_server.py` checks that patched and unpatched moto
answer alike.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

_query_scope = threading.local()  # the (table, partition key) of the Query running on this thread


def _last_sequence_number(shard: Any) -> int:
    return next(reversed(shard.records)) if shard.records else 0


def _patch_kinesis() -> None:
    from moto.kinesis.models import Shard

    Shard.get_max_sequence_number = _last_sequence_number  # type: ignore[method-assign,assignment]


def _patch_dynamodb() -> None:
    from moto.dynamodb.models.table import Table

    all_items, query = Table.all_items, Table.query

    @functools.wraps(all_items)
    def partition_items(self: Any) -> list[Any]:
        scope = getattr(_query_scope, "key", None)
        if scope is None or scope[0] is not self:
            return all_items(self)
        bucket = self.items.get(scope[1])
        if not bucket:
            return []
        items = list(bucket.values()) if self.range_key_attr else [bucket]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    @functools.wraps(query)
    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        _query_scope.key = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _query_scope.key = None

    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = query_partition  # type: ignore[method-assign]


def patch() -> None:
    """Apply both patches to the moto modules of this process (idempotent)."""
    from moto.kinesis.models import Shard

    if Shard.get_max_sequence_number is _last_sequence_number:
        return
    _patch_kinesis()
    _patch_dynamodb()


def main(argv: list[str] | None = None) -> None:
    from moto import server

    patch()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
