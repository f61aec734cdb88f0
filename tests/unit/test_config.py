"""The CLI's strict reading of Glue-style job arguments; the job scripts keep Glue's own parsing."""

from __future__ import annotations

import pytest

from ecomflow.config import BATCH_ARGS, STREAM_ARGS, check_argument_names, parse_batch_config
from ecomflow.errors import ConfigError


def test_known_arguments_pass_and_name_value_is_split():
    args = check_argument_names(["--input", "a.csv", "--lake=/lake", "--quality_gate", "off"], BATCH_ARGS, "batch")
    assert args == ["--input", "a.csv", "--lake", "/lake", "--quality_gate", "off"]


@pytest.mark.parametrize(("typo", "hint"), [("--qualitygate", "--quality_gate"), ("--quality-gate", "--quality_gate"),
                                             ("--inpt", "--input"), ("--Lake", "--lake")])
def test_a_misspelt_name_is_refused_with_the_closest_name(typo, hint):
    with pytest.raises(ConfigError, match=rf"^unknown option {typo} \(did you mean {hint}\?\)$"):
        check_argument_names(["--input", "a.csv", typo, "off"], BATCH_ARGS, "ecomflow batch")


def test_a_name_far_from_every_known_one_lists_them():
    with pytest.raises(ConfigError, match=r"unknown option --zzz: ecomflow stream takes --stream_name, --lake"):
        check_argument_names(["--zzz", "1"], STREAM_ARGS, "ecomflow stream")


@pytest.mark.parametrize(("args", "message"), [
    (["--input", "a.csv", "stray"], "unexpected argument 'stray'"),
    (["--input"], "--input needs a value"),
    (["--input", "--lake", "/l"], "--input needs a value"),
    (["--input", "a", "--input", "b"], "--input is given twice"),
])
def test_stray_words_missing_and_repeated_values_are_refused(args, message):
    with pytest.raises(ConfigError, match=message):
        check_argument_names(args, BATCH_ARGS, "ecomflow batch")


def test_glue_arguments_are_refused_by_the_cli_but_still_accepted_by_the_job_scripts():
    glue = ["--JOB_NAME", "j", "--TempDir", "s3://tmp/", "--job-bookmark-option", "job-bookmark-enable",
            "--enable-metrics", "true", "--input", "s3://raw/x.csv", "--lake", "s3://lake"]
    with pytest.raises(ConfigError, match="unknown option --TempDir"):
        check_argument_names(glue, BATCH_ARGS, "ecomflow batch")
    assert parse_batch_config(["batch_etl.py", *glue]).input_uri == "s3://raw/x.csv"
