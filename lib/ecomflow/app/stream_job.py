"""The Glue streaming job's wiring: the Kinesis source, the trigger, and which sinks run.

`run_glue_stream` reads the job's stream with the AWS Labs Kinesis connector and hands every
micro-batch to `pipelines.stream.process_batch` (Glue's `forEachBatch`), with the sinks
`default_sinks` chooses from the config. The local shard poller (`ecomflow.local.stream_runner`)
uses the same `default_sinks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession

from ecomflow.aws import ClientSettings
from ecomflow.config import StreamConfig
from ecomflow.pipelines.stream import batch_function
from ecomflow.pipelines.stream_sinks import Concurrently, DynamoDbSink, RedshiftSink, Sink, save_lake

if TYPE_CHECKING:
    from ecomflow.stores.redshift import RedshiftTarget

# The Kinesis source on Glue: the AWS Labs Spark Structured Streaming connector, added to the job
# with `--extra-jars` (cloudformation/glue.yaml). Glue's own Kinesis source parses records itself
# (`classification`), so a record that is not JSON would reach us without its text.
KINESIS_FORMAT = "aws-kinesis"


# --- Glue source and trigger options -----------------------------------------------------------

def kinesis_source_options(config: StreamConfig, region: str | None, endpoint_url: str) -> dict[str, str]:
    """Options of `spark.readStream.format("aws-kinesis")` for the job's stream.

    Args:
        config: the streaming job's config (stream name, or the ARN it is read from, and the start).
        region: the job's region (its environment or the stream ARN's); None leaves it to the
            connector, which infers it from the endpoint.
        endpoint_url: the Kinesis endpoint as the SDK resolves it for that region
            (`aws.client("kinesis").meta.endpoint_url`), never spelled by hand.
    """
    options = {
        "kinesis.streamName": config.stream_name,
        "kinesis.endpointUrl": endpoint_url,
        "kinesis.startingPosition": config.starting_position,
        "kinesis.maxFetchRecordsPerShard": str(config.max_records_per_shard),
        "kinesis.consumerType": "GetRecords",
    }
    if region:
        options["kinesis.region"] = region
    return options


def for_each_batch_options(config: StreamConfig) -> dict[str, str]:
    """`options` of `glueContext.forEachBatch`: the trigger window and the checkpoint location."""
    return {"windowSize": config.window_size, "checkpointLocation": config.checkpoint_uri}


# --- the sinks ---------------------------------------------------------------------------------

def default_sinks(config: StreamConfig, dynamodb_settings: ClientSettings | None = None,
                  redshift_target: RedshiftTarget | None = None) -> tuple[Sink, ...]:
    """The streaming job's sinks: DynamoDB, the lake and Redshift (where on), side by side.

    DynamoDB does not wait for the lake's append: a line is readable through the query API as soon
    as DynamoDB has it (freshness is measured there). A Redshift target that MERGEs the batch's own
    rows (PostgreSQL locally: `reads_lake` False) gets a lane of its own; one that COPYs the lake's
    touched partitions (the Data API: `reads_lake` True) follows the lake in the lake's lane. The
    checkpoint moves only after every sink, and each sink is idempotent.
    """
    lanes: list[list[Sink]] = [[DynamoDbSink(dynamodb_settings)], [save_lake]]
    if redshift_target is None and config.redshift.enabled:
        from ecomflow.stores.redshift import redshift_target as build_target

        redshift_target = build_target(config.redshift)
    if redshift_target is not None:
        if redshift_target.reads_lake:
            lanes[1].append(RedshiftSink(redshift_target))
        else:
            lanes.append([RedshiftSink(redshift_target)])
    return (Concurrently(*lanes),)


# --- the Glue driver ---------------------------------------------------------------------------

def read_kinesis(spark: SparkSession, config: StreamConfig) -> DataFrame:
    """The job's stream as a streaming DataFrame of record bytes (the AWS Labs Kinesis connector)."""
    from ecomflow import aws
    region = config.region or aws.default_region()
    endpoint_url = aws.client("kinesis", region).meta.endpoint_url
    reader = spark.readStream.format(KINESIS_FORMAT)
    for key, value in kinesis_source_options(config, region, endpoint_url).items():
        reader = reader.option(key, value)
    return reader.load().select("data")


def run_glue_stream(runtime: Any, config: StreamConfig) -> None:
    """The Glue streaming job: the Kinesis records' bytes, `forEachBatch(process_batch)`.

    Runs until the job is stopped; Glue commits its checkpoint after each batch function returns.
    """
    records = read_kinesis(runtime.spark, config)
    runtime.glue_context.forEachBatch(frame=records, batch_function=batch_function(config, default_sinks(config)),
                                      options=for_each_batch_options(config))
    runtime.commit()
