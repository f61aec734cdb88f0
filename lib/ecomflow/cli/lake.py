"""The lake's user commands on its Iceberg tables (ecomflow.app.lake_admin, ecomflow.app.migrate).

    ecomflow history --lake DIR [--table sales|sales_quarantine] [--limit N] [--json]
    ecomflow branches --lake DIR [--drop NAME ... | --drop-older-than DAYS] [--json]
    ecomflow maintain --lake DIR [--keep-snapshots N ...] [--json]
    ecomflow migrate --lake DIR [--json]

Arguments and the lake's folder are checked before Spark starts: a bad one is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ecomflow.cli.options import add_parser

COMMANDS = ("history", "branches", "maintain", "migrate")
# `iceberg.Maintenance`'s defaults, here so that `--help` needs no pyspark (a unit test checks they agree).
MAINTENANCE_DEFAULTS = {"min_input_files": 2, "target_file_mb": 128, "keep_snapshots": 20, "snapshot_age_days": 5,
                        "orphan_age_days": 3}


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _lake_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--lake", required=True, metavar="DIR_OR_URI",
                         help="the lake folder, or s3://bucket/prefix (required); its tables are found in the "
                         "lake's Iceberg catalog")
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `history`, `branches`, `maintain` and `migrate` to the CLI's subcommands."""
    from ecomflow import contract

    history = add_parser(commands, "history", help="a lake table's snapshots, newest first: time, snapshot id, "
                         "operation, rows added/removed, total rows, run or batch id")
    _lake_option(history)
    history.add_argument("--table", choices=(contract.CURATED_TABLE, contract.QUARANTINE_TABLE),
                         default=contract.CURATED_TABLE, help="which table")
    history.add_argument("--limit", type=_positive, default=50, metavar="N", help="show at most this many snapshots")

    branches = add_parser(commands, "branches", help="list the audit branches failed quality gates left "
                          "(table, name, snapshot, time), or drop them")
    _lake_option(branches)
    drop = branches.add_mutually_exclusive_group()
    drop.add_argument("--drop", nargs="+", metavar="NAME",
                      help="drop these branches from every table that has them (main cannot be dropped)")
    drop.add_argument("--drop-older-than", type=_non_negative, metavar="DAYS",
                      help="drop the audit branches (audit_*) whose snapshot is older than DAYS days")

    defaults = argparse.Namespace(**MAINTENANCE_DEFAULTS)
    maintain = add_parser(commands, "maintain", help="compact small files, expire old snapshots and delete "
                          "orphan files in both lake tables; prints the counts")
    _lake_option(maintain)
    maintain.add_argument("--min-input-files", type=_positive, default=defaults.min_input_files, metavar="N",
                          help="compact a partition once it holds this many small files")
    maintain.add_argument("--target-file-mb", type=_positive, default=defaults.target_file_mb, metavar="MIB",
                          help="the size compaction writes files of, in MiB")
    maintain.add_argument("--keep-snapshots", type=_positive, default=defaults.keep_snapshots, metavar="N",
                          help="snapshots of main's history always kept")
    maintain.add_argument("--snapshot-age-days", type=_non_negative, default=defaults.snapshot_age_days, metavar="DAYS",
                          help="older snapshots beyond --keep-snapshots are expired")
    maintain.add_argument("--orphan-age-days", type=_positive, default=defaults.orphan_age_days, metavar="DAYS",
                          help="files no snapshot names, older than this, are deleted (younger ones may belong "
                          "to a commit in flight)")

    migrate = add_parser(commands, "migrate", help="bring a plain-parquet lake into its Iceberg tables: the old "
                         "folders are moved to <lake>/_migrated/<time>/ and merged in (idempotent; run again to "
                         "resume)")
    _lake_option(migrate)


def _session_and_lake(args: argparse.Namespace) -> tuple[Any, str]:
    from ecomflow.app.lake_admin import lake_location
    from ecomflow.local.spark import local_session

    lake = lake_location(args.lake)  # a missing folder fails before Spark starts
    return local_session(app_name=f"ecomflow-{args.command}"), lake


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # aware ones in UTC, as the headings say
        return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 10**12 else str(value)  # snapshot ids stay as they are
    return str(value)


def _jsonable(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()} for row in rows]


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str,
               as_json: bool) -> None:
    """`rows` as JSON, or a `title` line and a rich table of `columns` ((key, heading) pairs).

    On a terminal the table folds to its width; piped, it is as wide as its content.
    """
    if as_json:
        print(json.dumps(_jsonable(rows), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    print(title)
    if not rows:
        return
    table = Table()
    for key, heading in columns:
        numeric = any(isinstance(r.get(key), int) and not isinstance(r.get(key), bool) for r in rows)
        table.add_column(heading, justify="right" if numeric else "left", overflow="fold")
    cells = [[_text(row.get(key)) for key, _ in columns] for row in rows]
    for line in cells:
        table.add_row(*line)
    console = Console()
    if not console.is_terminal:  # piped: as wide as the content
        widest = [max([len(h), *(len(line[i]) for line in cells)]) for i, (_, h) in enumerate(columns)]
        console = Console(width=sum(widest) + 3 * len(widest) + 1)
    console.print(table)


HISTORY_COLUMNS = (("committed_at", "committed (UTC)"), ("snapshot_id", "snapshot"), ("operation", "operation"),
                   ("added_records", "rows added"), ("deleted_records", "rows removed"),
                   ("total_records", "total rows"), ("on_main", "on main"), ("run_id", "run id"),
                   ("batch_id", "batch id"))
BRANCH_COLUMNS = (("table", "table"), ("name", "branch"), ("snapshot_id", "snapshot"),
                  ("committed_at", "committed (UTC)"))


def history_main(args: argparse.Namespace) -> int:
    from ecomflow.app import lake_admin

    spark, lake = _session_and_lake(args)
    table = lake_admin.table_of(lake_admin.existing_tables(spark, lake), args.table, lake)
    rows = lake_admin.table_history(spark, table, args.limit)
    columns = [c for c in HISTORY_COLUMNS if c[0] not in ("run_id", "batch_id") or any(r[c[0]] for r in rows)]
    print_rows(rows, columns, f"{table.short} at {table.location}: {len(rows)} snapshot(s), newest first",
               args.json)
    return 0


def branches_main(args: argparse.Namespace) -> int:
    from ecomflow.app import lake_admin

    spark, lake = _session_and_lake(args)
    tables = lake_admin.existing_tables(spark, lake)
    if args.drop is None and args.drop_older_than is None:
        rows = lake_admin.list_branches(spark, tables)
        print_rows(rows, BRANCH_COLUMNS, f"{len(rows)} branch(es) besides main in {lake}", args.json)
        return 0
    if args.drop is not None:
        names = list(dict.fromkeys(args.drop))
    else:
        names = sorted({b["name"] for b in lake_admin.branches_older_than(spark, tables, args.drop_older_than)})
    dropped = lake_admin.drop_branches(spark, tables, names) if names else []
    rows = [{"table": d.table, "name": d.name, "snapshot_id": d.snapshot_id} for d in dropped]
    print_rows(rows, BRANCH_COLUMNS[:3], f"dropped {len(rows)} branch(es) in {lake} (their snapshots go at the "
               "next `ecomflow maintain`)", args.json)
    return 0


def maintain_main(args: argparse.Namespace) -> int:
    from ecomflow.app import lake_admin
    from ecomflow.stores.iceberg import Maintenance

    settings = Maintenance(min_input_files=args.min_input_files, target_file_mb=args.target_file_mb,
                           keep_snapshots=args.keep_snapshots, snapshot_age_days=args.snapshot_age_days,
                           orphan_age_days=args.orphan_age_days)
    lake_admin.check_maintenance(settings)
    spark, lake = _session_and_lake(args)
    counts = lake_admin.maintain_lake(spark, lake_admin.existing_tables(spark, lake), settings)
    rows = [{"table": name, **values} for name, values in counts.items()]
    columns = [("table", "table"), ("rewritten_data_files", "files compacted"),
               ("added_data_files", "files written"), ("expired_snapshots_data_files", "expired data files"),
               ("expired_manifest_lists", "expired snapshots"), ("orphan_files_deleted", "orphans deleted")]
    print_rows(rows, columns, f"maintained {lake}", args.json)
    return 0


def migrate_main(args: argparse.Namespace) -> int:
    from ecomflow.app.migrate import migrate_lake

    spark, lake = _session_and_lake(args)
    migration = migrate_lake(spark, lake)
    if args.json:
        print(json.dumps(migration.to_dict(), indent=2))
        return 0
    for line in migration.moved:
        print(f"Moved aside: {line}")
    if not migration.moved and not any(t.sources for t in migration.tables):
        print(f"Nothing to migrate in {lake}: no plain-parquet tables and nothing pending in _migrated/")
    for t in migration.tables:
        if not t.sources:
            print(f"{t.table}: the table holds {t.rows_after:,} rows")
            continue
        print(f"{t.table}: read {t.rows_read:,} rows from {len(t.sources)} folder(s) ({t.duplicates:,} duplicate "
              f"keys), added {t.rows_added:,}; the table holds {t.rows_after:,} rows")
    return 0


def run_command(args: argparse.Namespace) -> int | None:
    """Run one of `COMMANDS`; None for any other command."""
    run = {"history": history_main, "branches": branches_main, "maintain": maintain_main,
           "migrate": migrate_main}.get(args.command)
    return None if run is None else run(args)
