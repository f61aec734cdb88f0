"""The streaming commands of the `ecomflow` CLI: `stream`, `api` and `replay`.

`ecomflow stream` takes the Glue streaming job's own arguments (config.STREAM_REQUIRED /
STREAM_OPTIONAL, parsed by getResolvedOptions) plus two local-only flags; in Glue it runs
`forEachBatch`, elsewhere the boto3 shard poller. The local commands talk to the running local
stack (`ecomflow local up`) when no AWS endpoint is configured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence

from ecomflow import config
from ecomflow.cli.options import add_parser

log = logging.getLogger("ecomflow")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `stream`, `api` and `replay` to the CLI's subcommands."""
    stream = add_parser(
        commands, "stream", help="run the streaming job: Kinesis micro-batches to DynamoDB, the lake and Redshift",
        usage="ecomflow stream --stream_name NAME --lake DIR_OR_URI --checkpoint_location DIR [--name value ...] "
        "[--until-idle] [--max-batches N] [--create-resources] [--json] [--progress MODE]")
    stream.add_argument("--until-idle", action="store_true", help="local: stop once the stream is drained")
    stream.add_argument("--max-batches", type=int, help="local: stop after this many micro-batches")
    stream.add_argument("--create-resources", action="store_true",
                        help="local: create the Kinesis stream and DynamoDB tables if missing")

    api = add_parser(commands, "api", help="serve the ingest and query Lambdas over HTTP on 127.0.0.1")
    api.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = a free one)")
    api.add_argument("--stream-name", default=os.environ.get(config.ENV_STREAM_NAME, config.DEFAULT_STREAM_NAME),
                     help=f"Kinesis stream of POST /records (${config.ENV_STREAM_NAME} moves the default)")
    api.add_argument("--invoice-table", default=os.environ.get(config.ENV_INVOICE_TABLE, config.DEFAULT_INVOICE_TABLE),
                     help=f"DynamoDB invoice table (${config.ENV_INVOICE_TABLE} moves the default)")
    api.add_argument("--customer-table",
                     default=os.environ.get(config.ENV_CUSTOMER_TABLE, config.DEFAULT_CUSTOMER_TABLE),
                     help=f"DynamoDB customer table (${config.ENV_CUSTOMER_TABLE} moves the default)")
    api.add_argument("--create-resources", action="store_true",
                     help="create the Kinesis stream and DynamoDB tables if missing")

    replay = add_parser(commands, "replay", help="post a raw CSV file to POST /records at a steady rate, its lines "
                                 "read and split as the batch job reads them; prints read = accepted + rejected")
    replay.add_argument("--input", required=True, help="raw CSV file (gzip or bzip2 is fine)")
    replay.add_argument("--rate", type=float, required=True, help="data lines per second")
    replay.add_argument("--url", default="http://127.0.0.1:8080", help="API base URL (the local API by default)")
    replay.add_argument("--batch-size", type=int, default=500, help="records per request (at most 500)")
    replay.add_argument("--encoding", default="ISO-8859-1", help="ISO-8859-1 or UTF-8, as batch's --encoding")
    replay.add_argument("--limit", type=int, help="replay only the first N data lines")
    replay.add_argument("--token", default=None,
                        help="a producer's access token (default: $ECOMFLOW_TOKEN; for the local API on 127.0.0.1, "
                        "one of the local stack's producer)")


def api_main(args: argparse.Namespace) -> int:
    from ecomflow.local.api_local import LocalApi
    from ecomflow.local.localstack import create_stream_resources, use_local_stack_if_running

    use_local_stack_if_running()
    os.environ.update(ECOMFLOW_STREAM_NAME=args.stream_name, ECOMFLOW_INVOICE_TABLE=args.invoice_table,
                      ECOMFLOW_CUSTOMER_TABLE=args.customer_table)
    if args.create_resources:
        create_stream_resources(args.stream_name, args.invoice_table, args.customer_table)
    server = LocalApi().server(args.port)  # behind the Cognito authorizer of the local pools
    log.info("serving POST /records, GET /invoices/{no}[/items/{code}], GET /customers/{id}/invoices on "
             "http://127.0.0.1:%d (Ctrl-C stops); every request needs a token: `ecomflow token ROLE`",
             server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def replay_main(args: argparse.Namespace) -> int:
    from ecomflow.devtools.replay import replay_file

    token = args.token or os.environ.get("ECOMFLOW_TOKEN")
    if not token and args.url.startswith("http://127.0.0.1:"):
        from ecomflow.api.access import Role
        from ecomflow.devtools.users import local_token
        from ecomflow.local.localstack import use_local_stack_if_running

        use_local_stack_if_running()
        token = local_token(Role.PRODUCER)
    stats = replay_file(args.input, args.url, args.rate, batch_size=args.batch_size, encoding=args.encoding,
                        limit=args.limit, token=token)
    print(json.dumps(stats.to_dict()))
    return 0


def run_command(args: argparse.Namespace, glue_args: Sequence[str]) -> int | None:
    """Run `stream`, `api` or `replay`; None for any other command."""
    if args.command == "stream":
        from ecomflow.cli.batch import stream_command

        return stream_command([f"ecomflow {args.command}", *glue_args], args)
    if args.command == "api":
        return api_main(args)
    if args.command == "replay":
        return replay_main(args)
    return None
