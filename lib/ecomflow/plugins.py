"""Stand-ins that product code names but never imports: found by name through the package's entry points.

Product code (what ships to Glue and Lambda) may not import `ecomflow.local` (an import-linter
contract says so), yet in four places it needs what only the laptop has: a Spark session where
nobody launched one, the shard poller in place of Glue's Kinesis source, PostgreSQL in place of
Redshift, and the lake's Iceberg catalog in place of the Glue Data Catalog's. It asks for them
here, by group and name; `setup.py` registers the local package's implementations under these
names (`entry_points`), so the arrow runs from `local` to the product and not back. Where the local
package is not installed, the error says what was asked for.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ecomflow.errors import EnvironmentMissingError

SPARK_SESSIONS = "ecomflow.spark_sessions"  # `local`: start a session on 127.0.0.1 (ecomflow.local.spark)
STREAM_SOURCES = "ecomflow.stream_sources"  # `shard-poller`: Glue's Kinesis source stood in for
REDSHIFT_TARGETS = "ecomflow.redshift_targets"  # `postgres`: Redshift stood in for by PostgreSQL
ICEBERG_CATALOGS = "ecomflow.iceberg_catalogs"  # `local`: the lake's Iceberg catalog on the local PostgreSQL


def load(group: str, name: str) -> Any:
    """The object registered as `name` in the entry-point `group`.

    Raises:
        EnvironmentMissingError: nothing of that name is installed (only the laptop's install has them).
    """
    found = [point for point in entry_points(group=group) if point.name == name]
    if not found:
        raise EnvironmentMissingError(
            f"no {name!r} in {group}: it is a local stand-in, installed with the checkout "
            "(`make setup`, `pip install -e .[local]`); in AWS Glue the job uses Glue's own")
    return found[0].load()
