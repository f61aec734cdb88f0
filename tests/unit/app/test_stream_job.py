"""The streaming job's wiring (app/stream_job.py): Glue's source and trigger options, which sinks run where."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecomflow.app import stream_job
from ecomflow.config import StreamConfig


@pytest.fixture
def config(tmp_path: Path) -> StreamConfig:
    return StreamConfig(stream_name="records", lake_uri=f"file://{tmp_path}/lake", checkpoint_uri=str(tmp_path / "cp"))


def test_glue_options_name_the_documented_arguments(config):
    assert stream_job.for_each_batch_options(config) == {"windowSize": "10 seconds",
                                                         "checkpointLocation": config.checkpoint_uri}
    options = stream_job.kinesis_source_options(config, "eu-west-1", "https://kinesis.eu-west-1.amazonaws.com")
    assert options == {"kinesis.streamName": "records", "kinesis.region": "eu-west-1",
                       "kinesis.endpointUrl": "https://kinesis.eu-west-1.amazonaws.com",
                       "kinesis.startingPosition": "TRIM_HORIZON", "kinesis.maxFetchRecordsPerShard": "1000",
                       "kinesis.consumerType": "GetRecords"}


def test_the_kinesis_endpoint_is_the_sdks_for_the_jobs_region(config, monkeypatch):
    # No endpoint spelled by hand: what boto3 resolves (other partitions, endpoint overrides) is used.
    captured = {}

    class Reader:
        def format(self, name):
            captured["format"] = name
            return self

        def option(self, key, value):
            captured[key] = value
            return self

        def load(self):
            return self

        def select(self, *columns):
            captured["columns"] = columns
            return self

    class Spark:
        readStream = Reader()

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    stream_job.read_kinesis(Spark(), config)
    assert captured["format"] == "aws-kinesis" and captured["columns"] == ("data",)
    assert captured["kinesis.region"] == "cn-north-1"
    assert captured["kinesis.endpointUrl"] == "https://kinesis.cn-north-1.amazonaws.com.cn"


class DataApiLikeTarget:  # COPYs the files the lake's commits added: must follow the lake
    reads_lake = True

    def upsert_batch(self, spark, table, curated, commits): ...


class PostgresLikeTarget(DataApiLikeTarget):  # MERGEs the batch's own rows: needs nothing of the lake
    reads_lake = False


@pytest.mark.parametrize("target, lanes", [
    (DataApiLikeTarget(), [["DynamoDbSink"], ["save_lake", "RedshiftSink"]]),
    (PostgresLikeTarget(), [["DynamoDbSink"], ["save_lake"], ["RedshiftSink"]]),
])
def test_default_sinks_run_side_by_side_and_redshift_after_the_lake_only_when_it_copies_it(config, target, lanes):
    (concurrently,) = stream_job.default_sinks(config, redshift_target=target)
    names = [[getattr(sink, "__name__", type(sink).__name__) for sink in lane] for lane in concurrently.lanes]
    assert names == lanes


def lanes_of(sinks):
    (concurrently,) = sinks
    return [[getattr(sink, "__name__", type(sink).__name__) for sink in lane] for lane in concurrently.lanes]


def test_the_real_targets_say_where_their_sink_runs(config):
    from ecomflow.local.postgres_target import PostgresTarget
    from ecomflow.stores.redshift import DataApiTarget

    data_api = DataApiTarget(object(), database="dev", iam_role="arn:aws:iam::1:role/r", workgroup="wg")
    (concurrently,) = stream_job.default_sinks(config, redshift_target=data_api)
    assert lanes_of((concurrently,)) == [["DynamoDbSink"], ["save_lake", "RedshiftSink"]]  # after the lake
    assert concurrently.lanes[1][1].target is data_api
    postgres = PostgresTarget("postgresql://u:p@127.0.0.1:5439/db")
    (concurrently,) = stream_job.default_sinks(config, redshift_target=postgres)
    assert lanes_of((concurrently,)) == [["DynamoDbSink"], ["save_lake"], ["RedshiftSink"]]  # a lane of its own
    assert concurrently.lanes[2][0].target is postgres


def test_the_configured_postgres_target_is_found_by_name_and_gets_its_own_lane(config):
    from dataclasses import replace

    from ecomflow.config import RedshiftSettings
    from ecomflow.local.postgres_target import PostgresTarget

    configured = replace(config, redshift=RedshiftSettings(mode="postgres", dsn="postgresql://u:p@127.0.0.1:5439/db"))
    (concurrently,) = stream_job.default_sinks(configured)
    assert lanes_of((concurrently,)) == [["DynamoDbSink"], ["save_lake"], ["RedshiftSink"]]
    assert type(concurrently.lanes[2][0].target) is PostgresTarget


def test_without_redshift_there_are_two_lanes(config):
    assert lanes_of(stream_job.default_sinks(config)) == [["DynamoDbSink"], ["save_lake"]]
