"""`ecomflow archive`: the local stand-in for the stream's Firehose archive (ecomflow.local.stream_archive_local).

    ecomflow archive --stream_name ecomflow-records --raw /tmp/raw --checkpoint_location /tmp/archive-ckpt
    ecomflow batch --input /tmp/raw/raw/stream --input_format stream-archive --lake /tmp/lake   # replay it
"""

from __future__ import annotations

import argparse
import json

from ecomflow import config
from ecomflow.cli.options import add_parser


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `archive` to the CLI's subcommands."""
    archive = add_parser(commands, "archive", help="local stack: archive the Kinesis stream's records as Firehose "
                         "does on AWS (raw/stream/year=/month=/day=/hour=/*.gz below --raw)")
    archive.add_argument("--stream_name", default=config.DEFAULT_STREAM_NAME, help="the stream to archive")
    archive.add_argument("--raw", required=True, help="the raw zone: a folder, file:// or s3:// URI")
    archive.add_argument("--checkpoint_location", required=True, help="this consumer's own checkpoint folder")
    archive.add_argument("--delivery_stream", default="ecomflow-local-archive", help="names the objects")
    archive.add_argument("--follow", action="store_true", help="keep polling (default: stop once idle)")


def archive_main(args: argparse.Namespace) -> int:
    from ecomflow.local.localstack import use_local_stack_if_running
    from ecomflow.local.stream_archive_local import archive_consumer

    use_local_stack_if_running()
    consumer = archive_consumer(args.stream_name, args.raw, args.checkpoint_location, args.delivery_stream)
    for uri in consumer.run(until_idle=not args.follow):
        print(json.dumps({"archived": uri}))
    return 0


def run_command(args: argparse.Namespace) -> int | None:
    """Run `archive`; None for any other command."""
    return archive_main(args) if args.command == "archive" else None
