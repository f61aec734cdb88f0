"""The Redshift sink: DDL files, the MERGE, and what the Data API target would send (Stubber)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ecomflow.app import batch_job
from ecomflow.config import BatchConfig, RedshiftSettings, parse_batch_config
from ecomflow.errors import ConfigError, PublishError
from ecomflow.stores import iceberg, redshift

ROLE = "arn:aws:iam::123456789012:role/ecomflow-redshift-copy"
NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def data_api():
    client = boto3.client("redshift-data", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def target(client, **kwargs):
    params = {"database": "analytics", "iam_role": ROLE, "workgroup": "ecomflow-wg", "sleep": lambda s: None,
              "clock": lambda: NOW}
    params.update(kwargs)
    return redshift.DataApiTarget(client, **params)


def test_split_statements_ignores_semicolons_in_comments_and_strings():
    sql = "-- a; comment\nCREATE TABLE t (a INT); /* x; y */ INSERT INTO t VALUES ('a;''b');\n"
    assert redshift.split_statements(sql) == ["CREATE TABLE t (a INT)", "INSERT INTO t VALUES ('a;''b')"]


def test_redshift_only_blocks_apply_on_redshift_and_stay_comments_on_postgres():
    sql = "CREATE TABLE t (a INT)\n/*redshift: DISTKEY (a) */;"
    assert redshift.split_statements(redshift.for_dialect(sql, "redshift")) == ["CREATE TABLE t (a INT)\nDISTKEY (a)"]
    assert redshift.split_statements(redshift.for_dialect(sql, "postgres")) == ["CREATE TABLE t (a INT)"]


def test_migrations_are_found_in_version_order():
    assert [(m.version, m.description) for m in redshift.load_migrations()][:2] == [
        ("V001", "sales"), ("V002", "bi_views")]


def test_sales_ddl_columns_follow_the_parquet_column_order():
    ddl = redshift.load_migrations()[0].statements("postgres")[0]
    body = ddl[ddl.index("(") + 1:]
    names = re.findall(r"^\s*([a-z_]+)\s+(?:VARCHAR|INTEGER|DECIMAL|TIMESTAMP)", body, re.MULTILINE)
    assert tuple(names) == ("record_id", "invoice_no", "stock_code", "description", "quantity", "unit_price",
                            "revenue", "invoice_ts", "customer_id", "country", "line_type", "source",
                            "ingested_at")


def test_sales_ddl_keeps_money_decimal():
    ddl = redshift.load_migrations()[0].statements("redshift")[0]
    assert re.search(r"unit_price\s+DECIMAL\(12,3\)", ddl)
    assert re.search(r"revenue\s+DECIMAL\(18,3\)", ddl)
    assert "SORTKEY (invoice_ts)" in ddl


def test_merge_updates_matched_keys_and_inserts_the_others():
    sql = redshift.merge_sql("stage", columns=("record_id", "quantity", "revenue"))
    assert sql == (
        "MERGE INTO sales\n"
        "USING stage AS s\n"
        "ON sales.record_id = s.record_id\n"
        "WHEN MATCHED THEN UPDATE SET\n"
        "    quantity = s.quantity,\n"
        "    revenue = s.revenue\n"
        "WHEN NOT MATCHED THEN INSERT (record_id, quantity, revenue)\n"
        "VALUES (s.record_id, s.quantity, s.revenue)"
    )


SALES, _ = iceberg.lake_tables("lake", "ecomflow", "s3a://lake-bucket/lake")
FILES = [iceberg.DataFile("s3a://lake-bucket/lake/curated/sales/data/year=2011/month=1/00000-a.parquet", 2048, 3),
         iceberg.DataFile("s3a://lake-bucket/lake/curated/sales/data/year=2011/month=10/00000-b.parquet", 1024, 2)]
STAGE_SQL = ("CREATE TEMP TABLE sales_stage AS SELECT " + ", ".join(redshift.SALES_COLUMNS)
             + ", CAST(NULL AS INTEGER) AS year, CAST(NULL AS INTEGER) AS month FROM sales WHERE 1 = 0")


@pytest.fixture
def s3():
    """An S3 client whose PutObject/DeleteObject are stubbed; `bodies` collects each manifest uploaded."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    bodies: list[dict] = []
    client.meta.events.register("provide-client-params.s3.PutObject",
                                lambda params, **_: bodies.append(dict(params)))
    with Stubber(client) as stub:
        yield client, stub, bodies
        stub.assert_no_pending_responses()


def expect_manifest(stub):
    """A manifest under `<lake>/_runs/redshift-manifests/` is uploaded, then deleted after the load."""
    stub.add_response("put_object", {}, {"Bucket": "lake-bucket", "Key": ANY, "Body": ANY,
                                         "ContentType": "application/json"})
    stub.add_response("delete_object", {}, {"Bucket": "lake-bucket", "Key": ANY})


def upsert_sqls(manifest_key=ANY):
    return [STAGE_SQL,
            ANY if manifest_key is ANY else
            f"COPY sales_stage FROM 's3://lake-bucket/{manifest_key}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST",
            redshift.unchanged_delete_sql("sales_stage"), redshift.merge_sql("sales_stage"), "DROP TABLE sales_stage"]


def finished(statement_id, merged):
    return {"Id": statement_id, "Status": "FINISHED", "SubStatements": [
        {"Id": f"{statement_id}:1"}, {"Id": f"{statement_id}:2", "ResultRows": 5},
        {"Id": f"{statement_id}:3", "ResultRows": 5 - merged}, {"Id": f"{statement_id}:4", "ResultRows": merged},
        {"Id": f"{statement_id}:5"}]}


def test_a_batch_upsert_copies_a_manifest_of_the_committed_files_and_merges_only_new_or_changed(
        data_api, s3, monkeypatch):
    client, stub = data_api
    s3_client, s3_stub, bodies = s3
    asked = []
    monkeypatch.setattr(iceberg, "committed_files", lambda spark, table, touched: asked.append(touched) or FILES)
    expect_manifest(s3_stub)
    sent = []
    client.meta.events.register("provide-client-params.redshift-data.BatchExecuteStatement",
                                lambda params, **_: sent.append(params["Sqls"]))
    stub.add_response("batch_execute_statement", {"Id": "stmt-1"}, {
        "WorkgroupName": "ecomflow-wg", "Database": "analytics", "StatementName": "ecomflow-upsert-sales",
        "Sqls": upsert_sqls()})
    stub.add_response("describe_statement", {"Id": "stmt-1", "Status": "STARTED"}, {"Id": "stmt-1"})
    stub.add_response("describe_statement", finished("stmt-1", merged=2), {"Id": "stmt-1"})
    result = target(client, s3=s3_client).upsert_partitions(None, SALES, ["year=2011/month=1", "year=2011/month=10"])

    assert result == redshift.UpsertResult(("year=2011/month=1", "year=2011/month=10"), 2, files=2)
    assert asked == [[{"year": 2011, "month": 1}, {"year": 2011, "month": 10}]]
    (upload,) = bodies
    assert upload["Key"].startswith("lake/_runs/redshift-manifests/") and upload["Key"].endswith(".manifest")
    assert json.loads(upload["Body"]) == {"entries": [
        {"url": "s3://lake-bucket/lake/curated/sales/data/year=2011/month=1/00000-a.parquet", "mandatory": True,
         "meta": {"content_length": 2048}},
        {"url": "s3://lake-bucket/lake/curated/sales/data/year=2011/month=10/00000-b.parquet", "mandatory": True,
         "meta": {"content_length": 1024}}]}
    assert sent[0][1] == (f"COPY sales_stage FROM 's3://lake-bucket/{upload['Key']}' IAM_ROLE '{ROLE}' "
                          "FORMAT AS PARQUET MANIFEST")


def test_the_merge_skips_rows_redshift_already_holds_unchanged():
    sql = redshift.unchanged_delete_sql("stage", columns=("record_id", "quantity", "description", "source"))
    assert sql == ("DELETE FROM stage\nUSING sales\nWHERE sales.record_id = stage.record_id\n"
                   "  AND (sales.quantity = stage.quantity OR (sales.quantity IS NULL AND stage.quantity IS NULL))\n"
                   "  AND (sales.description = stage.description "
                   "OR (sales.description IS NULL AND stage.description IS NULL))")  # lineage not compared


def test_provisioned_cluster_with_secret(data_api, s3, monkeypatch):
    client, stub = data_api
    s3_client, s3_stub, _ = s3
    monkeypatch.setattr(iceberg, "committed_files", lambda spark, table, touched: FILES[:1])
    expect_manifest(s3_stub)
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rs"
    stub.add_response("batch_execute_statement", {"Id": "s"}, {
        "ClusterIdentifier": "ecomflow-cluster", "Database": "analytics", "SecretArn": secret,
        "StatementName": "ecomflow-upsert-sales", "Sqls": upsert_sqls()})
    stub.add_response("describe_statement", {"Id": "s", "Status": "FINISHED"}, {"Id": "s"})
    target(client, workgroup=None, cluster_id="ecomflow-cluster", secret_arn=secret, s3=s3_client).upsert_partitions(
        None, SALES, ["year=2010/month=12"])


def test_a_failed_statement_raises_publish_error_with_redshift_text_and_the_manifest_goes(data_api, s3, monkeypatch):
    client, stub = data_api
    s3_client, s3_stub, _ = s3
    monkeypatch.setattr(iceberg, "committed_files", lambda spark, table, touched: FILES)
    expect_manifest(s3_stub)
    stub.add_response("batch_execute_statement", {"Id": "s"})
    stub.add_response("describe_statement", {"Id": "s", "Status": "FAILED",
                                             "Error": "ERROR: S3ServiceException: Access Denied"})
    with pytest.raises(PublishError, match="Access Denied"):
        target(client, s3=s3_client).upsert_partitions(None, SALES, ["year=2011/month=1"])


def test_nothing_committed_nothing_sent(data_api, s3, monkeypatch):
    client, _ = data_api
    s3_client, _, _ = s3
    monkeypatch.setattr(iceberg, "committed_files", lambda spark, table, touched: [])
    assert target(client, s3=s3_client).upsert_partitions(None, SALES, ["year=2011/month=1"]).merged_rows == 0
    assert target(client, s3=s3_client).upsert_batch(None, SALES, None, []).merged_rows == 0


def test_a_stream_batch_copies_only_the_files_its_commits_added(data_api, s3, monkeypatch):
    client, stub = data_api
    s3_client, s3_stub, bodies = s3
    commits = [iceberg.Commit(11, 3, 1, {}), iceberg.Commit(12, 0, 0, {}), iceberg.Commit(13, 2, 1, {})]
    added = {11: FILES[:1], 13: FILES[1:]}
    asked = []
    monkeypatch.setattr(iceberg, "added_data_files",
                        lambda spark, table, snapshot_id: asked.append(snapshot_id) or added[snapshot_id])
    monkeypatch.setattr(iceberg, "committed_files", lambda *a: pytest.fail("the month's files were listed"))
    expect_manifest(s3_stub)
    stub.add_response("batch_execute_statement", {"Id": "s"}, {
        "WorkgroupName": "ecomflow-wg", "Database": "analytics", "StatementName": "ecomflow-upsert-sales",
        "Sqls": upsert_sqls()})
    stub.add_response("describe_statement", finished("s", merged=4))

    class Untouchable:  # the batch's rows: the Data API path must not read them
        def __getattr__(self, name):
            raise AssertionError(f"the batch's rows were read ({name})")

    rs = target(client, s3=s3_client)
    result = rs.upsert_batch(None, SALES, Untouchable(), commits)
    assert rs.reads_lake is True and redshift.DataApiTarget.reads_lake is True
    assert result == redshift.UpsertResult((), 4, files=2)
    assert asked == [11, 13]  # a commit that added no file is not even opened
    assert [e["url"] for e in json.loads(bodies[0]["Body"])["entries"]] == [redshift.s3_copy_uri(f.path) for f in FILES]


def test_migrate_applies_only_versions_not_recorded(data_api):
    client, stub = data_api
    stub.add_response("execute_statement", {"Id": "m0"}, {
        "Sql": redshift.MIGRATIONS_DDL, "StatementName": "ecomflow-migrations-table",
        "WorkgroupName": "ecomflow-wg", "Database": "analytics"})
    stub.add_response("describe_statement", {"Id": "m0", "Status": "FINISHED"})
    stub.add_response("execute_statement", {"Id": "q"}, {
        "Sql": "SELECT version FROM schema_migrations", "StatementName": "ecomflow-query",
        "WorkgroupName": "ecomflow-wg", "Database": "analytics"})
    stub.add_response("describe_statement", {"Id": "q", "Status": "FINISHED"})
    stub.add_response("get_statement_result", {"Records": [[{"stringValue": "V001"}], [{"stringValue": "V002"}]],
                                               "TotalNumRows": 2}, {"Id": "q"})
    v003 = redshift.load_migrations()[2]
    stub.add_response("batch_execute_statement", {"Id": "m3"}, {
        "Sqls": [*v003.statements("redshift"),
                 "INSERT INTO schema_migrations (version, description, applied_at) VALUES "
                 "('V003', 'access', CAST('2024-05-01 12:30:00' AS TIMESTAMP))"],
        "StatementName": "ecomflow-V003", "WorkgroupName": "ecomflow-wg", "Database": "analytics"})
    stub.add_response("describe_statement", {"Id": "m3", "Status": "FINISHED"})
    assert target(client, applies_migrations=True).migrate() == ["V003"]


def _versions_recorded(stub, versions):
    stub.add_response("execute_statement", {"Id": "q"}, {
        "Sql": "SELECT version FROM schema_migrations", "StatementName": "ecomflow-query",
        "WorkgroupName": "ecomflow-wg", "Database": "analytics", "SecretArn": "arn:etl"})
    stub.add_response("describe_statement", {"Id": "q", "Status": "FINISHED"})
    stub.add_response("get_statement_result", {"Records": [[{"stringValue": v}] for v in versions]}, {"Id": "q"})


def test_a_jobs_target_checks_the_migrations_and_runs_no_ddl(data_api):
    client, stub = data_api
    _versions_recorded(stub, [m.version for m in redshift.load_migrations()])

    assert target(client, secret_arn="arn:etl").migrate() == []  # one SELECT, no CREATE


def test_a_jobs_target_stops_on_a_warehouse_behind_the_code(data_api):
    client, stub = data_api
    _versions_recorded(stub, ["V001", "V002"])

    with pytest.raises(PublishError, match="lacks migrations V003.*warehouse setup"):
        target(client, secret_arn="arn:etl").migrate()


def test_v003_creates_the_roles_and_users_on_redshift_and_tolerates_them_on_postgres():
    v003 = redshift.load_migrations()[2]
    on_redshift, on_postgres = ([re.sub(r"\s+", " ", s) for s in v003.statements(d)] for d in ("redshift", "postgres"))

    assert "CREATE ROLE ecomflow_etl" in on_redshift and "CREATE USER ecomflow_etl_user PASSWORD DISABLE" in on_redshift
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON sales TO ROLE ecomflow_etl" in on_redshift
    assert "GRANT ROLE ecomflow_bi TO ecomflow_bi_user" in on_redshift
    assert not any("$$" in s for s in on_redshift)
    assert any(s.startswith("DO $$ BEGIN CREATE ROLE ecomflow_etl NOLOGIN;") for s in on_postgres)
    assert "GRANT ecomflow_etl TO ecomflow_etl_user" in on_postgres
    assert len(on_redshift) == len(on_postgres)


@pytest.mark.parametrize(("kwargs", "sent"), [
    ({"secret_arn": "arn:etl"}, {"SecretArn": "arn:etl"}),
    ({}, {}),  # the caller's IAM identity (GetCredentials): nothing more
], ids=["etl-secret", "iam-identity"])
def test_a_workgroup_is_never_sent_a_db_user(data_api, kwargs, sent):
    client, stub = data_api
    stub.add_response("execute_statement", {"Id": "s"}, {
        "Sql": "SELECT 1", "StatementName": "ecomflow-query", "WorkgroupName": "ecomflow-wg",
        "Database": "analytics", **sent})  # the Stubber fails on any parameter not listed, DbUser included
    stub.add_response("describe_statement", {"Id": "s", "Status": "FINISHED"})
    stub.add_response("get_statement_result", {"Records": []}, {"Id": "s"})

    assert target(client, **kwargs).query("SELECT 1") == []


def test_a_workgroup_with_a_db_user_is_refused():
    with pytest.raises(ConfigError, match="takes no database user"):
        target(None, db_user="etl")
    with pytest.raises(ConfigError, match="--redshift_db_user is for a provisioned cluster"):
        parse_batch_config(["batch", "--input", "in.csv", "--lake", "s3://b/lake", "--redshift_mode", "data-api",
                            "--redshift_workgroup", "wg", "--redshift_db_user", "etl", "--redshift_iam_role", ROLE])


def test_a_cluster_still_takes_a_db_user(data_api):
    client, stub = data_api
    stub.add_response("execute_statement", {"Id": "s"}, {
        "Sql": "SELECT 1", "StatementName": "ecomflow-query", "ClusterIdentifier": "c1", "Database": "analytics",
        "DbUser": "etl"})
    stub.add_response("describe_statement", {"Id": "s", "Status": "FINISHED"})
    stub.add_response("get_statement_result", {"Records": []}, {"Id": "s"})

    assert target(client, workgroup=None, cluster_id="c1", db_user="etl").query("SELECT 1") == []


def test_copy_needs_an_s3_lake():
    with pytest.raises(ConfigError, match="s3://"):
        redshift.s3_copy_uri("file:///tmp/lake/curated/sales")


def test_redshift_arguments_parse_into_settings():
    config = parse_batch_config(["batch", "--input", "in.csv", "--lake", "s3://b/lake", "--redshift_mode",
                                 "data-api", "--redshift_workgroup", "wg", "--redshift_database", "analytics",
                                 "--redshift_iam_role", ROLE, "--catalog_database", "ecomflow"])
    assert config.redshift == RedshiftSettings(mode="data-api", workgroup="wg", database="analytics",
                                               iam_role=ROLE)
    assert config.catalog_database == "ecomflow"


@pytest.mark.parametrize("extra, message", [
    (["--redshift_mode", "mysql"], "redshift_mode"),
    (["--redshift_mode", "postgres"], "redshift_dsn"),
    (["--redshift_mode", "data-api", "--redshift_iam_role", ROLE], "exactly one"),
    (["--redshift_mode", "data-api", "--redshift_workgroup", "wg"], "redshift_iam_role"),
    (["--redshift_mode", "data-api", "--redshift_cluster_id", "c", "--redshift_iam_role", ROLE], "secret"),
])
def test_incomplete_redshift_arguments_are_config_errors(extra, message):
    with pytest.raises(ConfigError, match=message):
        parse_batch_config(["batch", "--input", "in.csv", "--lake", "lake", *extra])


def test_redshift_is_off_by_default():
    config = BatchConfig(input_uri="file:///in", lake_uri="file:///lake")
    assert batch_job.redshift_hook(config) is None
    assert redshift.redshift_target(config.redshift) is None
