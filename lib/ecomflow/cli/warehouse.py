"""`ecomflow warehouse setup --stack NAME`: the Redshift warehouse as its admin sets it up (ecomflow.stores.warehouse).

    ecomflow warehouse setup --stack ecomflow-dev      # make deploy runs it after the stack

Reads the stack's outputs (workgroup, database, the admin, ETL and BI secrets, the usage limit),
applies the versioned SQL as the admin, sets the ETL and BI users' passwords from their secrets and
the workgroup's usage limit. Idempotent.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

# Stack outputs the command reads (cloudformation/main.yaml).
OUTPUTS = ("RedshiftWorkgroupName", "RedshiftDatabaseName", "RedshiftAdminSecretArn", "RedshiftEtlSecretArn",
           "RedshiftBiSecretArn", "RedshiftUsageLimitRpuHours", "RedshiftUsageLimitPeriod",
           "RedshiftUsageLimitBreachAction")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `warehouse` to the CLI's subcommands."""
    warehouse = commands.add_parser("warehouse", help="Redshift as its admin sets it up (make deploy runs "
                                    "`warehouse setup --stack ecomflow-<STAGE>`)")
    actions = warehouse.add_subparsers(dest="action", required=True)
    setup = actions.add_parser("setup", help="migrations as the admin, the ETL and BI users' passwords from "
                               "their secrets, the workgroup's usage limit")
    setup.add_argument("--stack", required=True, help="the deployed stack (e.g. ecomflow-dev)")


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The outputs `warehouse setup` needs of a deployed stack.

    Raises:
        InputError: the stack lacks one (deployed before issue 16's users and limit).
    """
    from ecomflow.errors import InputError

    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise InputError(f"stack {stack} has no outputs {', '.join(missing)} (deploy the current templates first)")
    return outputs


def setup_main(args: argparse.Namespace) -> int:
    from ecomflow import aws
    from ecomflow.stores import warehouse
    from ecomflow.stores.redshift import BI_USER, ETL_USER, DataApiTarget

    outputs = stack_outputs(aws.client("cloudformation"), args.stack)
    admin = DataApiTarget(aws.client("redshift-data"), database=outputs["RedshiftDatabaseName"], iam_role="",
                          workgroup=outputs["RedshiftWorkgroupName"], secret_arn=outputs["RedshiftAdminSecretArn"],
                          applies_migrations=True)
    limit = warehouse.UsageLimit(int(outputs["RedshiftUsageLimitRpuHours"]), outputs["RedshiftUsageLimitPeriod"],
                                 outputs["RedshiftUsageLimitBreachAction"])
    done = warehouse.setup_warehouse(
        admin, aws.client("secretsmanager"), aws.client("redshift-serverless"), outputs["RedshiftWorkgroupName"],
        {ETL_USER: outputs["RedshiftEtlSecretArn"], BI_USER: outputs["RedshiftBiSecretArn"]}, limit)
    print(json.dumps(done))
    return 0


def run_command(args: argparse.Namespace) -> int | None:
    """Run `warehouse`; None for any other command."""
    if args.command == "warehouse":
        return setup_main(args)
    return None
