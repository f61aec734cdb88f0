"""Warehouse setup as the admin: users' passwords from their secrets, the usage limit (Stubber-checked)."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from botocore.stub import Stubber

from ecomflow.errors import ConfigError, PublishError
from ecomflow.stores import redshift, warehouse

ADMIN_SECRET = "arn:aws:secretsmanager:eu-west-1:1:secret:admin"
ETL_SECRET = "arn:aws:secretsmanager:eu-west-1:1:secret:etl"
WORKGROUP_ARN = "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/0b1c"


def client(service):
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def stubs():
    clients = {name: client(name) for name in ("redshift-data", "secretsmanager", "redshift-serverless")}
    stubbers = {name: Stubber(c) for name, c in clients.items()}
    for stub in stubbers.values():
        stub.activate()
    yield clients, stubbers
    for stub in stubbers.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def admin(data_api):
    return redshift.DataApiTarget(data_api, database="ecomflow", iam_role="", workgroup="ecomflow-dev",
                                  secret_arn=ADMIN_SECRET, applies_migrations=True, sleep=lambda s: None)


def test_the_password_is_sent_hashed_as_redshift_takes_it():
    sql = warehouse.password_sql(redshift.ETL_USER, "S3cret!pw")
    digest = hashlib.md5(b"S3cret!pw" + redshift.ETL_USER.encode(), usedforsecurity=False).hexdigest()

    assert sql == f"ALTER USER ecomflow_etl_user PASSWORD 'md5{digest}'"
    assert "S3cret" not in sql


def test_only_the_etl_and_bi_users_passwords_are_set():
    with pytest.raises(ConfigError, match="passwords of"):
        warehouse.password_sql("ecomflow_admin", "pw")


def test_each_users_password_comes_from_its_secret(stubs):
    clients, stub = stubs
    stub["secretsmanager"].add_response("get_secret_value", {"SecretString": json.dumps(
        {"username": redshift.ETL_USER, "password": "pw-1"})}, {"SecretId": ETL_SECRET})
    stub["redshift-data"].add_response("execute_statement", {"Id": "p"}, {
        "Sql": warehouse.password_sql(redshift.ETL_USER, "pw-1"),
        "StatementName": "ecomflow-password-ecomflow_etl_user",
        "WorkgroupName": "ecomflow-dev", "Database": "ecomflow", "SecretArn": ADMIN_SECRET})
    stub["redshift-data"].add_response("describe_statement", {"Id": "p", "Status": "FINISHED"})

    done = warehouse.set_user_passwords(admin(clients["redshift-data"]), clients["secretsmanager"],
                                        {redshift.ETL_USER: ETL_SECRET})

    assert done == [redshift.ETL_USER]


def test_a_secret_of_another_user_is_refused(stubs):
    clients, stub = stubs
    stub["secretsmanager"].add_response("get_secret_value", {"SecretString": json.dumps(
        {"username": "ecomflow_admin", "password": "pw"})}, {"SecretId": ETL_SECRET})

    with pytest.raises(ConfigError, match="expected 'ecomflow_etl_user'"):
        warehouse.set_user_passwords(admin(clients["redshift-data"]), clients["secretsmanager"],
                                     {redshift.ETL_USER: ETL_SECRET})


def test_the_usage_limit_is_created_once(stubs):
    clients, stub = stubs
    serverless = stub["redshift-serverless"]
    serverless.add_response("list_usage_limits", {},  # none yet: AWS leaves the list out
                            {"resourceArn": WORKGROUP_ARN, "usageType": "serverless-compute"})
    serverless.add_response("create_usage_limit", {"usageLimit": {"usageLimitId": "u-1"}}, {
        "resourceArn": WORKGROUP_ARN, "usageType": "serverless-compute", "amount": 1000, "period": "monthly",
        "breachAction": "deactivate"})

    assert warehouse.ensure_usage_limit(clients["redshift-serverless"], WORKGROUP_ARN,
                                        warehouse.UsageLimit(1000)) == "u-1"


def test_a_changed_usage_limit_is_updated_in_place(stubs):
    clients, stub = stubs
    serverless = stub["redshift-serverless"]
    serverless.add_response("list_usage_limits", {"usageLimits": [
        {"usageLimitId": "u-1", "period": "monthly", "amount": 1000, "breachAction": "deactivate"}]},
        {"resourceArn": WORKGROUP_ARN, "usageType": "serverless-compute"})
    serverless.add_response("update_usage_limit", {"usageLimit": {"usageLimitId": "u-1"}},
                            {"usageLimitId": "u-1", "amount": 200, "breachAction": "emit-metric"})

    assert warehouse.ensure_usage_limit(clients["redshift-serverless"], WORKGROUP_ARN,
                                        warehouse.UsageLimit(200, "monthly", "emit-metric")) == "u-1"


def test_an_unchanged_usage_limit_is_left_alone(stubs):
    clients, stub = stubs
    stub["redshift-serverless"].add_response("list_usage_limits", {"usageLimits": [
        {"usageLimitId": "u-1", "period": "daily", "amount": 50, "breachAction": "log"}]},
        {"resourceArn": WORKGROUP_ARN, "usageType": "serverless-compute"})

    assert warehouse.ensure_usage_limit(clients["redshift-serverless"], WORKGROUP_ARN,
                                        warehouse.UsageLimit(50, "daily", "log")) == "u-1"


@pytest.mark.parametrize(("args", "message"), [((0,), "at least 1"), ((10, "yearly"), "period"),
                                               ((10, "daily", "stop"), "breach action")])
def test_a_usage_limit_redshift_would_refuse_is_refused_first(args, message):
    with pytest.raises(ConfigError, match=message):
        warehouse.UsageLimit(*args)


def test_setup_runs_only_as_the_admin(stubs):
    clients, _ = stubs
    etl = redshift.DataApiTarget(clients["redshift-data"], database="ecomflow", iam_role="", workgroup="w",
                                 secret_arn=ETL_SECRET)

    with pytest.raises(PublishError, match="as the admin"):
        warehouse.setup_warehouse(etl, clients["secretsmanager"], clients["redshift-serverless"], "w", {}, None)
