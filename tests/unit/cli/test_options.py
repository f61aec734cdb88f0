"""Every subcommand's `--help` lists its options with their defaults, the Glue job arguments included."""

from __future__ import annotations

import argparse

import pytest

from ecomflow import config
from ecomflow.cli.main import build_parser
from ecomflow.cli.options import BATCH_HELP, STREAM_HELP, glue_arguments_epilog


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix}{name}"] = sub
                found.update(subcommands(sub, f"{prefix}{name} "))
    return found


COMMANDS = subcommands(build_parser())


def test_the_commands_are_all_found():
    assert {"batch", "stream", "sql", "query", "generate", "local", "demo", "api", "replay", "users add",
            "users list", "users remove", "token", "jvm-archive"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_says_what_it_does(name):
    parser = COMMANDS[name]
    missing = [a.dest for a in parser._actions if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert missing == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_default_is_shown(name):
    parser = COMMANDS[name]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert f"default: {action.default}" in text or "default" in (action.help or ""), action.dest


@pytest.mark.parametrize(("helps", "names"), [(BATCH_HELP, config.BATCH_ARGS), (STREAM_HELP, config.STREAM_ARGS)])
def test_every_glue_argument_has_help(helps, names):
    assert sorted(h.name for h in helps) == sorted(names)


def test_batch_help_lists_the_glue_arguments_with_their_defaults():
    text = " ".join(COMMANDS["batch"].format_help().split())
    for argument in BATCH_HELP:
        assert f"--{argument.name} {argument.metavar}" in text
    assert "--encoding ISO-8859-1|UTF-8 the input's charset (a UTF-8 BOM is accepted) (default: ISO-8859-1)" in text
    assert "(default: 0.05)" in text and "(default: now+1d)" in text and "(default: on)" in text
    assert "--input PATH_OR_URI raw CSV file or folder" in text and "(required)" in text


def test_stream_help_lists_the_glue_arguments_with_their_defaults():
    text = " ".join(COMMANDS["stream"].format_help().split())
    assert f"--window_size SECONDS micro-batch window (default: {config.DEFAULT_WINDOW_SECONDS})" in text
    assert "--until-idle" in text and "--until_idle on|off" in text


def test_a_long_option_name_gets_its_help_on_the_next_line():
    lines = glue_arguments_epilog(BATCH_HELP).splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("--max_quarantine_share"))
    assert lines[index].strip() == "--max_quarantine_share SHARE"
    assert lines[index + 1].startswith(" " * 26 + "the gate refuses")
