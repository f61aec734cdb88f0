"""AWS Glue entry of the streaming ETL job: Kinesis -> curated/quarantine parquet, DynamoDB, Redshift.

In Glue it reads the stream with `glueContext.create_data_frame.from_options(connection_type=
"kinesis")` (explicit raw schema, startingPosition TRIM_HORIZON) and runs
`glueContext.forEachBatch(batch_function=process_batch, options={"windowSize", "checkpointLocation"})`;
elsewhere the same arguments drive the local shard poller (`ecomflow stream`).

Arguments (Glue job parameters, or the same flags after `ecomflow stream`):
  --stream_name NAME           Kinesis data stream
  --lake URI                   lake root (curated/sales and quarantine/sales below it)
  --checkpoint_location URI    streaming checkpoint (s3://... in Glue, a folder locally)
  --stream_arn ARN             optional: read by ARN (else stream name + the regional endpoint)
  --window_size SECONDS        micro-batch trigger interval, default 10
  --starting_position POS      TRIM_HORIZON (default) or LATEST
  --invoice_table / --customer_table   DynamoDB tables, default Invoice / Customer
  --max_records_per_shard N    local poller: GetRecords limit, default 1000
  --redshift_mode off|postgres|data-api and --redshift_*  as for the batch job
  --date_format, --service_codes                        as for the batch job
"""

from __future__ import annotations

import sys

from ecomflow.cli_stream import stream_main

if __name__ == "__main__":
    sys.exit(stream_main(sys.argv))
