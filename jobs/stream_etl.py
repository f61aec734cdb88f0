"""AWS Glue entry of the streaming ETL job: Kinesis -> curated/quarantine parquet, DynamoDB, Redshift.

In Glue it reads each record's bytes with the AWS Labs Kinesis connector
(`spark.readStream.format("aws-kinesis")`, added with `--extra-jars`) and runs
`glueContext.forEachBatch(batch_function=process_batch, options={"windowSize", "checkpointLocation"})`;
elsewhere the same arguments drive the local shard poller (`ecomflow stream`).

Arguments (Glue job parameters, or the same flags after `ecomflow stream`):
  --stream_name NAME           Kinesis data stream
  --lake URI                   lake root (curated/sales and quarantine/sales below it)
  --checkpoint_location URI    streaming checkpoint (s3://... in Glue, a folder locally)
  --region REGION              optional: the stream's region (else the stream ARN's, else the job's environment)
  --stream_arn ARN             optional: the stream's ARN (its region is used when --region is absent)
  --window_size SECONDS        micro-batch trigger interval, default 10
  --starting_position POS      TRIM_HORIZON (default) or LATEST
  --invoice_table / --customer_table   DynamoDB tables, default Invoice / Customer
  --max_records_per_shard N    records per shard a micro-batch reads at most, default 1000
  --redshift_mode off|postgres|data-api and --redshift_*  as for the batch job
  --date_format, --service_codes                        as for the batch job
  --until_idle on|off, --max_batches N                  the local poller only: when to stop
"""

from __future__ import annotations

import sys

from ecomflow.app.entry import stream_job_main

if __name__ == "__main__":
    sys.exit(stream_job_main(sys.argv))
