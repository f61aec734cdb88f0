"""Where the laptop's project lives: the folder holding `lambdas/`, `.state/` and the demo lake.

Only the local stand-ins and the tools need it (Glue and Lambda know no project folder). A checkout
run in place finds itself; an installed wheel has no source tree around it, so `ECOMFLOW_HOME`
names the folder, and without it the current directory is the project.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "ECOMFLOW_HOME"
_SOURCE_TREE = Path(__file__).resolve().parents[3]  # <checkout>/lib/ecomflow/local/home.py


def is_checkout(folder: Path) -> bool:
    """True when `folder` looks like an EcomFlow checkout (its setup.py beside lib/ecomflow)."""
    return (folder / "setup.py").is_file() and (folder / "lib" / "ecomflow").is_dir()


def project_root() -> Path:
    """`$ECOMFLOW_HOME`, else the checkout this package is loaded from, else the current directory."""
    named = os.environ.get(ENV_HOME)
    if named:
        return Path(named).expanduser().resolve()
    if is_checkout(_SOURCE_TREE):
        return _SOURCE_TREE
    return Path.cwd()


def state_root() -> Path:
    """`<project>/.state`: the local stack's state and the demo's lake live below it."""
    return project_root() / ".state"
