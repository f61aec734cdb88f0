"""`ecomflow sql`/`query`: which lake they read, tables that do not exist, columns that are not cut."""

from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stdout
from decimal import Decimal

import pytest

from ecomflow.cli.main import EXIT_USAGE, main, print_result
from ecomflow.local.athena_local import QueryResult

RESULT = QueryResult(["year", "month", "gross_revenue", "cancelled_revenue", "net_revenue", "customers_with_a_sale"],
                     [(2011, 12, Decimal("433668.010"), Decimal("-204242.510"), Decimal("229425.500"), 615)])


def printed(width: int | None = None) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        print_result(RESULT, as_json=False, width=width)
    return out.getvalue()


def test_piped_tables_keep_every_name_and_value_whole():
    text = printed()  # stdout is not a terminal here
    for name in RESULT.columns:
        assert name in text
    assert "433668.010" in text and "…" not in text


def test_a_narrow_terminal_folds_columns_instead_of_cutting_them():
    for width in (50, 30):
        text = printed(width=width)
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
        # Every character of every name and value is there, folded onto more lines.
        shown = sorted(ch for ch in text if ch.isalnum() or ch in "_.-")
        expected = sorted(ch for cell in [*RESULT.columns, *map(str, RESULT.rows[0])] for ch in cell)
        assert shown == expected


def test_no_rows_says_so_with_the_columns():
    out = io.StringIO()
    with redirect_stdout(out):
        print_result(QueryResult(["a", "b"], []), as_json=False)
    assert out.getvalue() == "(no rows; columns: a, b)\n"


@pytest.fixture
def empty_lake(tmp_path, local_stack):
    (tmp_path / "lake" / "curated" / "sales").mkdir(parents=True)
    return tmp_path / "lake"


def test_sql_on_a_lake_says_which_lake_it_reads(empty_lake, capsys):
    assert main(["sql", "SELECT COUNT(*) AS n FROM ecomflow.sales", "--lake", str(empty_lake), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == [{"n": 0}]
    assert out.err.startswith(f"Reading lake {empty_lake} (sales 0 partitions")


def test_an_unknown_table_lists_the_lakes_tables(empty_lake, caplog):
    assert main(["sql", "SELECT * FROM nope", "--lake", str(empty_lake)]) == EXIT_USAGE
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "query failed: no table nope; the tables are: ecomflow.sales, ecomflow.sales_quarantine"]


def test_a_lake_that_does_not_exist_is_one_error(tmp_path, caplog):
    assert main(["query", "monthly_revenue", "--lake", str(tmp_path / "nowhere")]) == EXIT_USAGE
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.startswith(f"no lake at {tmp_path / 'nowhere'}")


def test_lake_and_database_are_one_or_the_other(tmp_path):
    with pytest.raises(SystemExit) as exited:
        main(["sql", "SELECT 1", "--lake", str(tmp_path), "--database", "ecomflow"])
    assert exited.value.code == 2


def test_without_a_catalog_the_error_says_how_to_read_a_lake(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("ECOMFLOW_STATE_DIR", str(tmp_path / "no-stack"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert main(["query", "monthly_revenue"]) == EXIT_USAGE
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "--lake DIR" in error
