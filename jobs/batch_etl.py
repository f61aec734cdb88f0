"""AWS Glue entry of the batch ETL job: raw CSV in S3 -> curated and quarantine parquet.

Arguments (Glue job parameters, or the same flags after `ecomflow batch`):
  --input URI        raw CSV file or folder (gzip is fine)
  --lake URI         lake root; writes curated/sales and quarantine/sales below it
  --report PATH      optional: where to write the run report as JSON
  --encoding NAME    ISO-8859-1 (default) or UTF-8
  --date_format FMT  Spark datetime pattern of InvoiceDate, default M/d/yyyy H:mm
  --service_codes    comma-separated non-product stock codes
  --topic_arn ARN    optional: SNS topic for "storage updated" / "job failed" messages
  --quality_gate on|off  audit the staged partitions before publishing (default on)
  --input_format csv|stream-archive  raw CSV (default), or the stream's Firehose archive (raw/stream/)

The run report is logged (CloudWatch in Glue) and written to --report when given.
Exit codes: 0 published, 3 the quality gate failed (nothing published); other errors are raised. In Glue
(which passes --JOB_NAME) a failure whose "job failed" message went out is raised as FailureReported, so
the job-failure EventBridge rule does not alert a second time.
"""

from __future__ import annotations

import sys

from ecomflow.app.entry import batch_job_main

if __name__ == "__main__":
    sys.exit(batch_job_main(sys.argv))
