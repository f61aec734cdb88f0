"""Streaming benchmarks on the local stack: the ingest API, sustained throughput and freshness.

    python -m bench.stream [--records 20000] [--rate 2500] [--window 1] [--request-records 500] [--input FILE]

1. Ingest API: records per second POSTed through the real handler (HTTP adapter -> ingest Lambda ->
   Kinesis on moto) in 500-record JSON requests, from `--clients` concurrent clients.
2. Streaming: a producer POSTs at `--rate` records/s, `--request-records` a request, while the local
   stream job runs micro-batches every `--window` seconds (API -> Kinesis -> process_batch -> lake,
   DynamoDB, Redshift/PostgreSQL); sustained records/s = records / (first POST -> last record visible
   through GET), and freshness = POST accepted -> the posted lines of the sampled invoice visible
   through `GET /invoices/{no}`, p50/p95/p99 over one sample per request. Before it, one micro-batch
   of the ingest phase's stream runs through the whole pipeline into its own lake and tables, so the
   JVM and every sink are warm (as in a streaming job that has been running for a while).

Everything runs on a temporary local stack (moto server, PostgreSQL) on 127.0.0.1. The API (both
Lambda handlers behind the local HTTP adapter, `ecomflow api`) runs in a process of its own, as API
Gateway and Lambda do on AWS, so its handlers do not share an interpreter with the stream job's
driver. The results go to `bench/results/<date>-<host>-stream.json` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.run import DEFAULT_SOURCE, ROOT

log = logging.getLogger("bench.stream")
BATCH = 500  # records a request: the Kinesis PutRecords limit the API enforces


def load_records(source: Path, count: int) -> list[dict[str, str]]:
    from ecomflow.devtools.replay import read_lines, split_line

    records = []
    for line in read_lines(source):
        record, _ = split_line(line.text)
        if record is not None:
            records.append(record)
        if len(records) == count:
            break
    return records


def post(url: str, records: list[dict[str, str]]) -> float:
    """POST one request; returns the time it was accepted (monotonic)."""
    body = json.dumps({"records": records}).encode("utf-8")
    request = urllib.request.Request(f"{url}/records", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 202:
            raise RuntimeError(f"POST answered {response.status}")
    return time.monotonic()


def visible_lines(url: str, invoice_no: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/invoices/{invoice_no}", timeout=30) as response:
            return int(json.loads(response.read()).get("count") or 0)
    except urllib.error.HTTPError:
        return 0


def line_key(record: dict[str, str]) -> tuple:
    """What makes two raw records the same line after cleaning (trimmed, stock code upper-cased)."""
    values = [(record.get(k) or "").strip() for k in ("InvoiceNo", "StockCode", "Description", "Quantity",
                                                      "InvoiceDate", "UnitPrice", "CustomerID", "Country")]
    values[1] = values[1].upper()
    return tuple(values)


@contextmanager
def api_server(log_file: Path, timeout: float = 60.0) -> Iterator[str]:
    """`ecomflow api` in a process of its own, for the stream and tables the Lambda environment names."""
    from ecomflow.local.localstack import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_file, "ab") as log_out:
        child = subprocess.Popen([sys.executable, "-m", "ecomflow.cli.main", "--log-level", "WARNING", "api", "--port",
                                  str(port)], stdout=subprocess.DEVNULL, stderr=log_out, env=dict(os.environ))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/invoices/0", timeout=2).close()
                break
            except urllib.error.HTTPError:  # it answers (404: no such invoice)
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local API did not start (see {log_file})") from None
                time.sleep(0.2)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=30)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bench_ingest(url: str, records: list[dict[str, str]], clients: int) -> dict[str, Any]:
    batches = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda b: post(url, b), batches))
    seconds = time.monotonic() - started
    return {"records": len(records), "requests": len(batches), "clients": clients, "seconds": round(seconds, 3),
            "records_per_s": round(len(records) / seconds, 1)}


class FreshnessWatcher:
    """Polls `GET /invoices/{no}` for the posted samples, while production goes on, on its own threads.

    A sample is (invoice, lines it must show, accepted at); its freshness is the time of the first
    GET answer that shows them, minus the accepted time. Micro-batches make samples visible roughly
    in the order they were posted, so only the oldest unseen sample is polled, every `interval` s;
    once it shows, a micro-batch has landed and the next `wave` samples are asked at once (again
    while every one asked shows), so a batch that brings many samples is seen when it landed, not
    one GET after another (`wave` 1, the default: one after another, the finest resolution). A wave
    that finds some samples not visible yet goes back to the oldest.

    Each GET is a DynamoDB Query. After a round that shows nothing the watcher waits `interval` s
    or `share` times as long as that round took, whichever is longer, which keeps its part of the
    local DynamoDB's time under 1 / (1 + share) when Queries are slow.
    """

    def __init__(self, url: str, timeout: float = 120.0, interval: float = 0.2, share: float = 2.0,
                 wave: int = 1) -> None:
        self.url, self.timeout, self.interval, self.share, self.wave = url, timeout, interval, share, wave
        self.pending: list[tuple[str, int, float]] = []
        self.latencies: list[float] = []
        self.missing = 0
        self.last_seen = 0.0
        self._lock = threading.Lock()
        self._producing = True
        self._thread = threading.Thread(target=self._watch, name="freshness-watcher", daemon=True)
        self._thread.start()

    def add(self, invoice: str, lines: int, accepted: float) -> None:
        with self._lock:
            self.pending.append((invoice, lines, accepted))

    def finish(self) -> None:
        """No more samples: wait until every pending one is seen (or times out)."""
        self._producing = False
        self._thread.join()

    def _seen_at(self, sample: tuple[str, int, float]) -> float | None:
        invoice, lines, _ = sample
        return time.monotonic() if visible_lines(self.url, invoice) >= lines else None

    def _watch(self) -> None:
        asked_for = 1
        with ThreadPoolExecutor(self.wave, thread_name_prefix="freshness-get") as pool:
            while True:
                with self._lock:
                    samples = self.pending[:asked_for]
                if not samples:
                    if not self._producing:
                        return
                    time.sleep(self.interval)
                    continue
                asked = time.monotonic()
                answers = list(pool.map(self._seen_at, samples))
                done = []
                for sample, seen in zip(samples, answers, strict=True):
                    if seen is not None:
                        self.latencies.append(seen - sample[2])
                        self.last_seen = max(self.last_seen, seen)
                        done.append(sample)
                    elif time.monotonic() - sample[2] > self.timeout:
                        self.missing += 1
                        done.append(sample)
                with self._lock:
                    self.pending = [s for s in self.pending if s not in done]
                if len(done) == len(samples):  # all shown: a batch has landed, ask the next wave at once
                    asked_for = self.wave
                    continue
                asked_for = 1  # caught up with what has landed: back to the oldest sample
                time.sleep(self.interval if done else max(self.interval, self.share * (time.monotonic() - asked)))


def bench_stream(url: str, records: list[dict[str, str]], rate: float, runner: Any,
                 request_records: int = BATCH, watch_wave: int = 1) -> dict[str, Any]:
    """Produce at `rate` while `runner` (a StreamRunner on another thread) drains the stream.

    Freshness is watched while production goes on; sustained throughput is the records over first
    POST -> the last sample visible (with a `rate` above what the job drains, that is its capacity).
    """
    expected: dict[str, set] = {}
    runner_thread = threading.Thread(target=runner.run, name="stream-runner", daemon=True)
    runner_thread.start()
    watcher = FreshnessWatcher(url, wave=watch_wave)
    started = time.monotonic()
    for index in range(0, len(records), request_records):
        batch = records[index:index + request_records]
        due = started + index / rate
        time.sleep(max(0.0, due - time.monotonic()))
        for record in batch:
            expected.setdefault(record["InvoiceNo"].strip(), set()).add(line_key(record))
        invoice = batch[-1]["InvoiceNo"].strip()
        lines = len(expected[invoice])
        watcher.add(invoice, lines, post(url, batch))
        if index == 0:
            log.info("first POST accepted at +%.2fs", time.monotonic() - started)
    produced = time.monotonic()
    log.info("production done at +%.2fs", produced - started)
    watcher.finish()
    log.info("last sample seen at +%.2fs", watcher.last_seen - started)
    runner.stop.set()
    runner_thread.join(timeout=120)
    latencies = watcher.latencies
    return {
        "records": len(records), "target_rate": rate, "request_records": request_records, "watch_wave": watch_wave,
        "produce_seconds": round(produced - started, 3),
        "sustained_records_per_s": round(len(records) / (watcher.last_seen - started), 1) if latencies else None,
        "freshness_s": {"p50": round(percentile(latencies, 0.50), 3), "p95": round(percentile(latencies, 0.95), 3),
                        "p99": round(percentile(latencies, 0.99), 3), "samples": len(latencies),
                        "missing": watcher.missing} if latencies else {"missing": watcher.missing},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2_500.0)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--watch-wave", type=int, default=1,
                        help="samples the freshness watcher asks at once after one shows: 1 is the finest "
                        "resolution; 8 keeps up when a big batch lands many samples at once (capacity runs)")
    parser.add_argument("--request-records", type=int, default=BATCH,
                        help=f"records per POST while streaming (at most {BATCH}; one freshness sample each)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    # The per-batch timeline: what was polled and framed, the counts, each sink's seconds.
    for name in ("bench.stream", "ecomflow.pipelines.stream", "ecomflow.local.stream_runner"):
        logging.getLogger(name).setLevel(logging.INFO)

    from ecomflow.config import RedshiftSettings, StreamConfig, to_uri
    from ecomflow.devtools.stream_demo import lambda_environment
    from ecomflow.local import localstack
    from ecomflow.local.localstack import create_stream_resources as create_resources
    from ecomflow.local.spark import local_session
    from ecomflow.local.stream_runner import StreamRunner

    records = load_records(args.input, args.records)
    work = Path(tempfile.mkdtemp(prefix="ecomflow-stream-bench-"))
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"),
                               "input": str(args.input), "window_seconds": args.window}
    if not 1 <= args.request_records <= BATCH:
        parser.error(f"--request-records must be 1..{BATCH}")
    with localstack.temporary_stack() as endpoints, localstack.stack_environment(endpoints):
        spark = local_session()
        redshift = RedshiftSettings(mode="postgres", dsn=endpoints.postgres.dsn)
        with lambda_environment("bench-ingest", "BenchInvoiceI", "BenchCustomerI"):
            create_resources("bench-ingest", "BenchInvoiceI", "BenchCustomerI")
            with api_server(work / "api.log") as url:
                results["ingest"] = bench_ingest(url, records, args.clients)
            # Warm-up: one micro-batch of what the ingest phase sent, through every sink, elsewhere.
            warm = StreamConfig(stream_name="bench-ingest", lake_uri=to_uri(str(work / "warm-lake")),
                                checkpoint_uri=str(work / "warm-checkpoint"), window_seconds=args.window,
                                invoice_table="BenchInvoiceI", customer_table="BenchCustomerI",
                                max_records_per_shard=BATCH, redshift=redshift)
            StreamRunner(spark, warm).run(max_batches=1)
        with lambda_environment("bench-stream", "BenchInvoice", "BenchCustomer"):
            create_resources("bench-stream", "BenchInvoice", "BenchCustomer")
            config = StreamConfig(stream_name="bench-stream", lake_uri=to_uri(str(work / "lake")),
                                  checkpoint_uri=str(work / "checkpoint"), window_seconds=args.window,
                                  invoice_table="BenchInvoice", customer_table="BenchCustomer",
                                  max_records_per_shard=10_000, redshift=redshift)
            runner = StreamRunner(spark, config)
            with api_server(work / "api.log") as url:
                results["stream"] = bench_stream(url, records, args.rate, runner, args.request_records,
                                                 args.watch_wave)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = args.out or ROOT / "bench" / "results" / f"{datetime.now():%Y-%m-%d}-{socket.gethostname()}-stream.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title="Streaming on the local stack")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("ingest API records/s (500-record POSTs)", f"{results['ingest']['records_per_s']:,.0f}", "≥ 5,000")
    table.add_row("sustained records/s through all sinks", f"{results['stream']['sustained_records_per_s']:,.0f}",
                  "≥ 2,000")
    fresh = results["stream"]["freshness_s"]
    if "p95" in fresh:
        table.add_row(f"freshness p50 / p95 / p99 (window {args.window} s)",
                      f"{fresh['p50']:.2f} / {fresh['p95']:.2f} / {fresh['p99']:.2f} s", "p95 ≤ 3 s")
    Console().print(table)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
