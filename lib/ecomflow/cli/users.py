"""The access commands of the `ecomflow` CLI: `users add|list|remove` and `token` (ecomflow.devtools.users).

    ecomflow users add analyst ana@example.com --stack ecomflow-dev          # invitation e-mail, MFA at first sign-in
    ecomflow users add customer bob@example.com --customer-id 17850 --stack ecomflow-dev
    ecomflow users add producer shop-frontend --stack ecomflow-dev           # prints its client id and secret
    ecomflow users list --stack ecomflow-dev
    ecomflow users remove customer 17850 --stack ecomflow-dev
    ecomflow token analyst                                                    # local stack: an access token
"""

from __future__ import annotations

import argparse
import json

from ecomflow.api.access import Role
from ecomflow.cli.options import add_parser

ROLES = [role.value for role in Role]


def _pool_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="the deployed stack whose outputs name the pools (e.g. ecomflow-dev)")
    where.add_argument("--local", action="store_true", help="the local stack's pools (created if missing)")
    parser.add_argument("--staff-pool-id", help="the staff pool (analysts, producers), instead of --stack")
    parser.add_argument("--customer-pool-id", help="the customer pool, instead of --stack")
    parser.add_argument("--user-pool-id", help="the pool of the role at hand (the staff or the customer pool)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `users` and `token` to the CLI's subcommands."""
    users = add_parser(commands, "users", help="who may use the API: add, list or remove analysts, customers and "
                                "producers in the user pools on AWS (--stack or pool ids) or local (--local)")
    actions = users.add_subparsers(dest="action", required=True)
    add = add_parser(actions, "add", help="give someone a role (no sign-up path: people are provisioned)")
    add.add_argument("role", choices=ROLES, help="analyst, customer or producer")
    add.add_argument("name", help="an analyst's or customer's e-mail; a producer's name (its client is producer-NAME)")
    add.add_argument("--customer-id", help="customers: their CustomerID (the only invoices they may read)")
    list_ = add_parser(actions, "list", help="everyone with a role, as JSON lines")
    list_.add_argument("role", nargs="?", choices=ROLES, help="only this role (default: every role)")
    remove = add_parser(actions, "remove", help="take someone's access away (deletes the user or the client)")
    remove.add_argument("role", choices=ROLES, help="analyst, customer or producer")
    remove.add_argument("name", help="as `users list` shows it (a customer also by customer id)")
    for parser in (add, list_, remove):
        _pool_options(parser)

    token = add_parser(commands, "token", help="local stack: sign in as someone of a role (made if missing) and "
                                "print their access token, e.g. curl -H \"Authorization: Bearer $(ecomflow token "
                                "analyst)\"")
    token.add_argument("role", choices=ROLES, help="analyst, customer or producer")
    token.add_argument("name", nargs="?", help="an e-mail, or a producer's name (default: one local one per role)")
    token.add_argument("--customer-id", help="customers: their CustomerID")
    token.add_argument("--id-token", action="store_true", help="print the id token instead (the API refuses it)")


def _pools(args: argparse.Namespace):  # noqa: ANN202 - ecomflow.devtools.users.Pools
    from ecomflow import aws
    from ecomflow.devtools.users import Pools, pools_of_stack
    from ecomflow.errors import InputError

    if args.local:
        from ecomflow.local import cognito_local
        from ecomflow.local.localstack import use_local_stack_if_running

        use_local_stack_if_running()
        local = cognito_local.ensure_pools()
        return Pools(local.staff_pool_id, local.customer_pool_id)
    pools = pools_of_stack(aws.client("cloudformation"), args.stack) if args.stack else Pools()
    staff, customers = args.staff_pool_id or pools.staff_pool_id, args.customer_pool_id or pools.customer_pool_id
    if args.user_pool_id:
        if args.role is None:
            raise InputError("--user-pool-id names the pool of one role: give the role too")
        if args.role == Role.CUSTOMER:
            customers = args.user_pool_id
        else:
            staff = args.user_pool_id
    if not (staff or customers):
        raise InputError("which pools? pass --stack NAME, --local, or the pool ids")
    return Pools(staff, customers)


def users_main(args: argparse.Namespace) -> int:
    from ecomflow import aws
    from ecomflow.devtools import users

    pools = _pools(args)
    cognito = aws.client("cognito-idp")
    if args.action == "add":
        print(json.dumps(users.add_member(cognito, pools, Role(args.role), args.name, customer_id=args.customer_id)))
    elif args.action == "list":
        for member in users.list_members(cognito, pools, Role(args.role) if args.role else None):
            print(json.dumps(member.to_dict()))
    else:
        users.remove_member(cognito, pools, Role(args.role), args.name)
    return 0


def token_main(args: argparse.Namespace) -> int:
    from ecomflow.devtools.users import local_token
    from ecomflow.local.localstack import use_local_stack_if_running

    use_local_stack_if_running()
    print(local_token(Role(args.role), args.name, args.customer_id, kind="id" if args.id_token else "access"))
    return 0


def run_command(args: argparse.Namespace) -> int | None:
    """Run `users` or `token`; None for any other command."""
    if args.command == "users":
        return users_main(args)
    if args.command == "token":
        return token_main(args)
    return None
