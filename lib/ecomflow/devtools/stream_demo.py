"""The streaming path end to end on the local stack, for `ecomflow demo` and the README.

A slice of a raw CSV file goes through the real HTTP API (ingest Lambda) into Kinesis, sent as a
local producer (client-credentials token), the local shard poller runs `process_batch` until the
stream is drained (lake, DynamoDB, and Redshift when configured), and a streamed invoice is read
back with `GET /invoices/{invoice_no}` as a local analyst.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ecomflow.config import (
    DEFAULT_CUSTOMER_TABLE,
    DEFAULT_INVOICE_TABLE,
    DEFAULT_STREAM_NAME,
    ENV_CUSTOMER_TABLE,
    ENV_INVOICE_TABLE,
    ENV_STREAM_NAME,
    RedshiftSettings,
    StreamConfig,
    to_uri,
)

log = logging.getLogger(__name__)


@contextmanager
def lambda_environment(stream_name: str, invoice_table: str, customer_table: str) -> Iterator[None]:
    """Set the Lambdas' environment variables for the duration (as CloudFormation would)."""
    values = {ENV_STREAM_NAME: stream_name, ENV_INVOICE_TABLE: invoice_table, ENV_CUSTOMER_TABLE: customer_table}
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def http_get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def run_stream_demo(spark: SparkSession, input_path: str | Path, lake: str, checkpoint_dir: str | Path, *,
                    rows: int = 500, stream_name: str = DEFAULT_STREAM_NAME,
                    invoice_table: str = DEFAULT_INVOICE_TABLE, customer_table: str = DEFAULT_CUSTOMER_TABLE,
                    redshift: RedshiftSettings | None = None,
                    encoding: str = "ISO-8859-1", rate: float = 5000.0, progress: bool = True) -> dict[str, Any]:
    """Stream the first `rows` rows of `input_path` through API -> Kinesis -> process_batch -> stores.

    boto3 must already point at the local stack (`localstack.apply_environment`, or the
    `local_stack` test fixture). Creates the stream and tables where missing.

    Returns:
        A summary: the replay's counts, the micro-batches' counts, and the GET of one streamed invoice.
    """
    from ecomflow.api.access import Role
    from ecomflow.devtools.replay import read_lines, replay_file, split_line
    from ecomflow.devtools.users import local_token
    from ecomflow.local.api_local import start_api
    from ecomflow.local.localstack import create_stream_resources as create_resources
    from ecomflow.local.stream_runner import StreamRunner

    create_resources(stream_name, invoice_table, customer_table)
    config = StreamConfig(stream_name=stream_name, lake_uri=to_uri(lake), checkpoint_uri=str(checkpoint_dir),
                          invoice_table=invoice_table, customer_table=customer_table,
                          redshift=redshift or RedshiftSettings())
    with lambda_environment(stream_name, invoice_table, customer_table):
        api = start_api()  # behind the Cognito authorizer of the local pools
        try:
            replayed = replay_file(input_path, api.url, rate=rate, limit=rows, encoding=encoding, progress=progress,
                                   token=local_token(Role.PRODUCER))
            results = StreamRunner(spark, config).run(until_idle=True)
            records = (split_line(line.text)[0] for line in read_lines(input_path, encoding))
            invoice_no = next((r["InvoiceNo"].strip() for r in records if r), None)
            status, body = http_get(f"{api.url}/invoices/{urllib.parse.quote(invoice_no or '-')}",
                                    token=local_token(Role.ANALYST))
        finally:
            api.stop()
    summary = {
        "replay": replayed.to_dict(),
        "batches": [{"batch_id": r.batch_id, "lines": r.lines, "curated": r.curated, "quarantined": r.quarantined,
                     "duplicates_dropped": r.duplicates_dropped, "written": r.written} for r in results],
        "get_invoice": {"invoice_no": invoice_no, "status": status,
                        "lines": body.get("count") if isinstance(body, dict) else None,
                        "first_line": (body.get("lines") or [None])[0] if isinstance(body, dict) else None},
    }
    log.info("streaming demo: %s", json.dumps(summary))
    return summary
