"""Pure parts of the local stack: settings, the endpoints document, the boto3 environment."""

from __future__ import annotations

import json
import pickle
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from ecomflow import aws
from ecomflow.errors import EnvironmentMissingError, PortInUseError
from ecomflow.local import localstack
from ecomflow.local.localstack import Endpoints, MotoEndpoint, PostgresEndpoint, StackSettings


def _endpoints() -> Endpoints:
    return Endpoints(
        state_dir="/state", region="eu-west-1",
        moto=MotoEndpoint(host="127.0.0.1", port=5055, pid=11, log_file="/state/moto.log"),
        postgres=PostgresEndpoint(host="127.0.0.1", port=5439, jdbc_jar="/usr/share/java/postgresql.jar",
                                  jdbc_jar_present=True, pid=12, data_dir="/state/pg/data"))


def test_endpoints_document_has_the_documented_keys():
    doc = _endpoints().to_dict()

    assert set(doc) == {"state_dir", "aws", "moto", "postgres"}
    assert set(doc["aws"]) == {"endpoint_url", "region", "access_key_id", "secret_access_key"}
    assert {"host", "port", "endpoint_url", "pid"} <= set(doc["moto"])
    assert {"host", "port", "user", "password", "database", "dsn", "jdbc_url", "jdbc_driver",
            "jdbc_jar", "jdbc_jar_present", "pid"} <= set(doc["postgres"])


def test_endpoints_document_values():
    doc = _endpoints().to_dict()

    assert doc["aws"]["endpoint_url"] == "http://127.0.0.1:5055"
    assert doc["postgres"]["dsn"] == "postgresql://ecomflow:ecomflow@127.0.0.1:5439/ecomflow"
    assert doc["postgres"]["jdbc_url"] == "jdbc:postgresql://127.0.0.1:5439/ecomflow"
    assert doc["postgres"]["jdbc_driver"] == "org.postgresql.Driver"


def test_endpoints_round_trip_through_json():
    endpoints = _endpoints()

    assert Endpoints.from_dict(json.loads(endpoints.to_json())) == endpoints


def test_alive_flags_appear_only_in_status_documents():
    doc = replace(_endpoints(), alive={"moto": True, "postgres": False}).to_dict()

    assert (doc["moto"]["alive"], doc["postgres"]["alive"], doc["running"]) == (True, False, False)
    assert "running" not in _endpoints().to_dict()


def test_with_database_keeps_the_server():
    other = _endpoints().postgres.with_database("test_x")

    assert other.dsn == "postgresql://ecomflow:ecomflow@127.0.0.1:5439/test_x"


def test_apply_environment_points_boto3_at_moto_and_hides_profiles():
    environ = {"AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "t", "NO_PROXY": "corp.example"}

    localstack.apply_environment(_endpoints(), environ)

    assert environ == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5055", "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "NO_PROXY": "corp.example,127.0.0.1,localhost", "no_proxy": "corp.example,127.0.0.1,localhost",
        "ECOMFLOW_STATE_DIR": "/state",  # where the lakes' catalogs look for this stack
    }


def test_restore_environment_undoes_apply_environment():
    original = {"AWS_PROFILE": "prod", "AWS_REGION": "us-west-2", "HOME": "/root"}
    environ = dict(original)

    previous = localstack.apply_environment(_endpoints(), environ)
    localstack.restore_environment(previous, environ)

    assert environ == original


def test_settings_from_env_reads_variables_and_overrides_win(tmp_path):
    env = {"ECOMFLOW_STATE_DIR": str(tmp_path), "ECOMFLOW_MOTO_PORT": "6000", "ECOMFLOW_PG_PORT": "6001",
           "AWS_DEFAULT_REGION": "eu-central-1"}

    settings = StackSettings.from_env(env, pg_port=0, moto_port=None)

    assert (settings.state_dir, settings.moto_port, settings.pg_port, settings.region) == (
        tmp_path.resolve(), 6000, 0, "eu-central-1")


def test_settings_default_to_the_repo_state_folder_and_redshift_port():
    settings = StackSettings.from_env({})

    assert settings.state_dir == Path(__file__).resolve().parents[3] / ".state" / "local"
    assert (settings.moto_port, settings.pg_port, settings.region) == (5055, 5439, "us-east-1")


def test_settings_reject_a_port_that_is_not_a_number():
    with pytest.raises(EnvironmentMissingError, match="ECOMFLOW_PG_PORT"):
        StackSettings.from_env({"ECOMFLOW_PG_PORT": "redshift"})


def test_ensure_port_free_names_the_taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}"):
            localstack.ensure_port_free(port, "moto server", "--moto-port")


def test_missing_postgres_binaries_are_a_clear_error(tmp_path):
    settings = StackSettings.from_env({}, state_dir=tmp_path, pg_bin=tmp_path / "no-such-bin")

    with pytest.raises(EnvironmentMissingError, match="PostgreSQL 15 is not installed"):
        localstack.up(settings)


def test_missing_jdbc_jar_is_a_clear_error(tmp_path):
    settings = StackSettings.from_env({}, state_dir=tmp_path, jdbc_jar=tmp_path / "postgresql.jar")
    if not all((settings.pg_bin / tool).exists() for tool in ("initdb", "pg_ctl", "pg_isready", "postgres")):
        pytest.skip("PostgreSQL 15 is not installed, so the binary check fails first")

    with pytest.raises(EnvironmentMissingError, match="libpostgresql-jdbc-java"):
        localstack.up(settings)


def test_status_without_a_stack_says_not_running(tmp_path):
    doc = localstack.status(StackSettings.from_env({}, state_dir=tmp_path))

    assert doc["running"] is False and doc["state_dir"] == str(tmp_path.resolve())


def test_aws_clients_share_the_retry_config_and_take_the_endpoint_from_config(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    client = aws.client("dynamodb")

    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 10}


def test_aws_clients_are_kept_until_the_environment_changes(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    first = aws.client("kinesis", "us-east-1")
    assert aws.client("kinesis", "us-east-1") is first  # a Lambda reuses its client across invocations

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2")  # another local stack
    moved = aws.client("kinesis", "us-east-1")
    assert moved is not first and moved.meta.endpoint_url == "http://127.0.0.1:2"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:3")
    assert aws.client("kinesis", "us-east-1").meta.endpoint_url == "http://127.0.0.1:3"
    assert aws.client("kinesis", "eu-west-1") is not moved


def test_no_region_is_guessed_boto3_resolves_it_from_its_config(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    assert aws.default_region() is None
    assert aws.client("sns").meta.region_name == "ap-southeast-2"


def test_client_settings_rebuild_the_drivers_client_elsewhere(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    settings = aws.ClientSettings.from_environment("dynamodb")
    for name in ("AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)  # an executor's Python worker has none of the driver's settings

    shipped = pickle.loads(pickle.dumps(settings))
    client = shipped.client()
    assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-1", "http://127.0.0.1:4")
    assert client.meta.config.retries["mode"] == "adaptive"
    assert shipped.client() is client and "local-secret" not in repr(settings)


def test_client_settings_ship_no_credentials_to_aws_endpoints(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "real-key")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    settings = aws.ClientSettings.from_environment("dynamodb")
    assert settings.endpoint_url is None and settings.credentials == (None, None, None)
