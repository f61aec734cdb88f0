#!/usr/bin/env bash
# Issue 15's case, as a user runs it: the real file without its last 30,000 lines through
# `ecomflow batch`, and those 30,000 lines through the local API and `ecomflow stream`, into one
# lake at the same time (both write November and December 2011). On the plain-parquet lake this
# ended with 536,324 rows (317 streamed lines lost); on Iceberg it must end with all 536,641.
#
#   bash bench/experiments/batch_and_stream.sh [REAL_FILE] [SCRATCH]
#
# Uses the local stack (`ecomflow local up`); prints the counts and the revenue at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
E=.venv/bin/ecomflow
REAL=${1:-../shared/data/online_retail.csv.gz}
SCRATCH=${2:-/tmp/ecomflow-batch-and-stream}
TAIL=30000
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
zcat "$REAL" > "$SCRATCH/all.csv"
total=$(($(wc -l < "$SCRATCH/all.csv") - 1))
head -n $((total + 1 - TAIL)) "$SCRATCH/all.csv" > "$SCRATCH/head.csv"
{ head -n 1 "$SCRATCH/all.csv"; tail -n $TAIL "$SCRATCH/all.csv"; } > "$SCRATCH/tail.csv"
lake="$SCRATCH/lake" tag=bs$$
stream=(--stream_name "records-$tag" --invoice_table "Invoice-$tag" --customer_table "Customer-$tag")

$E local up > /dev/null
$E api --port 8089 --stream-name "records-$tag" --invoice-table "Invoice-$tag" --customer-table "Customer-$tag" \
  --create-resources > "$SCRATCH/api.log" 2>&1 &
api=$!
trap 'kill $api 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -s -o /dev/null http://127.0.0.1:8089/ && break; sleep 1; done

start=$(date +%s)
# The stream job polls while the batch job runs; the producer sends the tail meanwhile.
$E stream "${stream[@]}" --lake "$lake" --checkpoint_location "$SCRATCH/cp" --window_size 2 \
  --max-batches 400 --progress off > "$SCRATCH/stream.log" 2>&1 &
streaming=$!
$E batch --input "$SCRATCH/head.csv" --lake "$lake" --progress off > "$SCRATCH/batch.log" 2>&1 &
batch=$!
$E replay --input "$SCRATCH/tail.csv" --rate 2000 --url http://127.0.0.1:8089 > "$SCRATCH/replay.log" 2>&1
wait $batch
echo "batch done after $(($(date +%s) - start)) s: $(grep -o 'Published run [^ ]*' "$SCRATCH/batch.log" || tail -1 "$SCRATCH/batch.log")"
kill $streaming 2>/dev/null || true; wait $streaming 2>/dev/null || true
# Drain what is left on the stream (a replay of the last batch adds nothing).
$E stream "${stream[@]}" --lake "$lake" --checkpoint_location "$SCRATCH/cp" --until-idle --progress off \
  >> "$SCRATCH/stream.log" 2>&1
echo "replay: $(tail -1 "$SCRATCH/replay.log")"
$E sql "SELECT count(*) AS rows, count(DISTINCT record_id) AS ids, sum(revenue) AS revenue FROM ecomflow.sales" \
  --lake "$lake"
$E history --lake "$lake" --limit 8
