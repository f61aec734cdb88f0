"""The CLI's console: its log handler on stderr and where its words go.

`ecomflow batch` and `ecomflow stream` end with a summary in words, so their log shows warnings and
errors only unless `--log-level INFO` (or DEBUG) asks for more; the `ecomflow` logger itself stays at
INFO or below, so the progress line can follow what the job does.
"""

from __future__ import annotations

import logging
import sys

from ecomflow.app.entry import NOISY_LOGGERS

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_COMMANDS = ("batch", "stream")  # they say what happened in a summary: their log is for problems


class CliHandler(logging.StreamHandler):
    """The CLI's own stderr handler (replaced, not stacked, when logging is set up again)."""


def default_log_level(command: str | None) -> str:
    """WARNING for the commands that end with a summary, INFO for the others."""
    return "WARNING" if command in QUIET_COMMANDS else "INFO"


def setup_cli_logging(level: str) -> None:
    """Log records of `level` and above to stderr in one line each; `ecomflow` records reach handlers from INFO.

    Like `logging.basicConfig`, the handler is added only where no other handler is installed (a
    test's capture handler stays the only one).
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, CliHandler)]:
        root.removeHandler(handler)
    if not root.handlers:
        handler = CliHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(numeric)
        root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("ecomflow").setLevel(min(numeric, logging.INFO))
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def say(text: str, to_stderr: bool = False) -> None:
    """Print words for the person at the terminal (stdout, or stderr when stdout carries JSON)."""
    print(text, file=sys.stderr if to_stderr else sys.stdout, flush=True)
