"""The local Iceberg catalog: one name per lake, the same for every spelling of its location."""

from __future__ import annotations

import json

from ecomflow.local import iceberg
from ecomflow.local.localstack import PostgresEndpoint


def test_every_spelling_of_a_lake_is_one_catalog_and_two_lakes_are_two(tmp_path):
    lake = tmp_path / "lake"
    names = {iceberg.catalog_name(s) for s in (str(lake), f"{lake}/", lake.as_uri(), f"file:{lake}")}
    assert len(names) == 1
    (name,) = names
    assert name.startswith("lake_") and len(name) == len("lake_") + 12
    assert iceberg.catalog_name(str(tmp_path / "other")) != name
    assert iceberg.normalise("s3://bucket/lake/") == "s3://bucket/lake"


def test_catalog_settings_point_the_jdbc_catalog_at_postgres_with_the_lake_as_warehouse(tmp_path):
    settings = iceberg.catalog_settings(str(tmp_path), PostgresEndpoint("127.0.0.1", 5999, user="u", password="p"))
    prefix = f"spark.sql.catalog.{iceberg.catalog_name(str(tmp_path))}"
    assert settings[prefix] == "org.apache.iceberg.spark.SparkCatalog"
    assert settings[f"{prefix}.type"] == "jdbc"
    assert settings[f"{prefix}.uri"] == "jdbc:postgresql://127.0.0.1:5999/ecomflow"
    assert (settings[f"{prefix}.jdbc.user"], settings[f"{prefix}.jdbc.password"]) == ("u", "p")
    assert settings[f"{prefix}.warehouse"] == tmp_path.as_uri()


def test_jars_only_when_the_build_is_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOMFLOW_CACHE", str(tmp_path))
    assert iceberg.jars() == [] and iceberg.session_settings() == {}
    folder = iceberg.jar_dir()
    folder.mkdir(parents=True)
    (folder / iceberg.RUNTIME_JAR).write_bytes(b"jar")
    (folder / "manifest.json").write_text(json.dumps({"jars": {iceberg.RUNTIME_JAR: "x", iceberg.SHADED_JAR: "y"}}))
    assert iceberg.jars() == []  # the shaded Jackson jar is missing
    (folder / iceberg.SHADED_JAR).write_bytes(b"jar")
    assert iceberg.jars() == [str(folder / iceberg.RUNTIME_JAR), str(folder / iceberg.SHADED_JAR)]
    assert iceberg.session_settings() == {"spark.sql.extensions": iceberg.EXTENSIONS}
