"""`ecomflow history|branches|maintain|migrate`: their options, and bad arguments refused before Spark starts."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from ecomflow.cli import lake as lake_cli
from ecomflow.cli.main import build_parser, main


@pytest.fixture(autouse=True)
def no_spark(monkeypatch):
    """These tests never reach Spark: a bad argument or lake is refused before a session starts."""
    import ecomflow.local.spark

    def refuse(*_args, **_kwargs):
        raise AssertionError("Spark was started")

    monkeypatch.setattr(ecomflow.local.spark, "local_session", refuse)


def test_the_maintenance_defaults_of_the_help_are_the_stores_own():
    from ecomflow.stores.iceberg import Maintenance

    assert lake_cli.MAINTENANCE_DEFAULTS == dataclasses.asdict(Maintenance())
    args = build_parser().parse_args(["maintain", "--lake", "x"])
    assert {k: getattr(args, k) for k in lake_cli.MAINTENANCE_DEFAULTS} == lake_cli.MAINTENANCE_DEFAULTS


def test_the_commands_parse():
    parser = build_parser()
    args = parser.parse_args(["history", "--lake", "x", "--table", "sales_quarantine", "--limit", "5", "--json"])
    assert (args.table, args.limit, args.json) == ("sales_quarantine", 5, True)
    assert parser.parse_args(["history", "--lake", "x"]).table == "sales"
    assert parser.parse_args(["branches", "--lake", "x", "--drop", "a", "b"]).drop == ["a", "b"]
    assert parser.parse_args(["branches", "--lake", "x", "--drop-older-than", "7"]).drop_older_than == 7
    assert parser.parse_args(["migrate", "--lake", "x"]).command == "migrate"


@pytest.mark.parametrize("argv", [
    ["history", "--lake", "x", "--limit", "0"],
    ["history", "--lake", "x", "--limit", "many"],
    ["history", "--lake", "x", "--table", "orders"],
    ["history"],
    ["branches", "--lake", "x", "--drop", "a", "--drop-older-than", "1"],
    ["branches", "--lake", "x", "--drop-older-than", "-1"],
    ["maintain", "--lake", "x", "--keep-snapshots", "0"],
    ["maintain", "--lake", "x", "--orphan-age-days", "0"],
    ["migrate", "--lake", "x", "--stray"],
])
def test_a_bad_argument_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("ecomflow")


@pytest.mark.parametrize("command", lake_cli.COMMANDS)
def test_a_missing_lake_is_one_line_and_exit_2(command, caplog, tmp_path):
    assert main([command, "--lake", str(tmp_path / "nowhere")]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"no lake at {tmp_path / 'nowhere'} (no such folder)"]


def test_rows_print_as_json_or_as_a_table(capsys):
    rows = [{"name": "audit_r1", "snapshot_id": 8_765_432_109_876_543_210, "committed_at": datetime(2026, 12, 3, 9, 5),
             "on_main": False, "count": 1234}]
    columns = [("name", "branch"), ("snapshot_id", "snapshot"), ("committed_at", "committed"), ("on_main", "main"),
               ("count", "rows")]
    lake_cli.print_rows(rows, columns, "t", as_json=True)
    assert json.loads(capsys.readouterr().out) == [{**rows[0], "committed_at": "2026-12-03T09:05:00"}]
    lake_cli.print_rows(rows, columns, "t", as_json=False)
    out = capsys.readouterr().out
    assert "8765432109876543210" in out and "2026-12-03 09:05:00" in out and "1,234" in out and " no " in out
    lake_cli.print_rows([], columns, "nothing here", as_json=False)
    assert capsys.readouterr().out == "nothing here\n"


def test_times_collected_from_spark_are_shown_in_utc():
    from datetime import UTC, timedelta, timezone

    from ecomflow.app.lake_admin import utc

    local = datetime(2026, 12, 3, 9, 5)
    assert utc(local) == local.astimezone(UTC) and utc(local).tzinfo is UTC
    assert lake_cli._text(datetime(2026, 12, 3, 10, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-12-03 09:05:00"
    assert utc(None) is None
