"""`ecomflow batch` and `ecomflow stream` fail at the boundary: one error line, exit 2, before Spark starts."""

from __future__ import annotations

import logging

import pytest

from ecomflow.cli.main import EXIT_USAGE, main, one_line


@pytest.fixture(autouse=True)
def _keep_log_level():
    logger = logging.getLogger("ecomflow")
    level = logger.level
    yield
    logger.setLevel(level)


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_misspelt_option_is_refused_with_a_hint(caplog, tmp_path):
    (tmp_path / "in.csv").write_text("x\n")
    code = main(["batch", "--input", str(tmp_path / "in.csv"), "--lake", str(tmp_path / "lake"),
                 "--qualitygate", "off"])
    assert code == EXIT_USAGE
    assert errors(caplog) == ["unknown option --qualitygate (did you mean --quality_gate?)"]
    assert not (tmp_path / "lake").exists()


def test_a_missing_input_is_one_error(caplog, tmp_path):
    assert main(["batch", "--input", str(tmp_path / "absent.csv"), "--lake", str(tmp_path / "lake")]) == EXIT_USAGE
    assert errors(caplog) == [f"input {tmp_path / 'absent.csv'} does not exist"]


def test_the_stream_job_refuses_an_unwritable_lake(caplog, tmp_path):
    (tmp_path / "file").write_text("")
    code = main(["stream", "--stream_name", "s", "--lake", str(tmp_path / "file" / "lake"),
                 "--checkpoint_location", str(tmp_path / "cp"), "--until-idle"])
    assert code == EXIT_USAGE
    assert errors(caplog) == [f"lake {tmp_path / 'file' / 'lake'} cannot be created: {tmp_path / 'file'} "
                              f"is a regular file"]


def test_log_level_is_accepted_after_the_command(caplog, tmp_path):
    assert main(["batch", "--input", str(tmp_path / "absent.csv"), "--lake", str(tmp_path), "--log-level",
                 "DEBUG"]) == EXIT_USAGE
    assert errors(caplog) == [f"input {tmp_path / 'absent.csv'} does not exist"]
    assert logging.getLogger("ecomflow").level == logging.DEBUG


def test_other_commands_keep_refusing_stray_arguments():
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--rows", "1", "--out", "x.csv", "--bogus"])
    assert exited.value.code == 2


def test_a_message_over_several_lines_becomes_one():
    assert one_line("cannot read input x:\n  Path does not exist\n") == "cannot read input x: Path does not exist"


def test_a_misspelt_cli_option_of_batch_gets_its_hint(caplog, tmp_path):
    assert main(["batch", "--input", "x.csv", "--lake", str(tmp_path / "lake"), "--jsn"]) == EXIT_USAGE
    assert errors(caplog) == ["unknown option --jsn (did you mean --json?)"]


def test_a_prefix_of_a_cli_option_is_not_taken_for_it(caplog, tmp_path):
    assert main(["batch", "--input", "x.csv", "--lake", str(tmp_path / "lake"), "--progres", "on"]) == EXIT_USAGE
    assert errors(caplog) == ["unknown option --progres (did you mean --progress?)"]


def test_batch_and_stream_log_warnings_only_unless_asked(tmp_path):
    main(["batch", "--input", str(tmp_path / "absent.csv"), "--lake", str(tmp_path)])
    assert logging.getLogger("ecomflow").level == logging.INFO  # the progress line still hears the job's steps
    from ecomflow.cli.console import default_log_level

    assert default_log_level("batch") == default_log_level("stream") == "WARNING"
    assert default_log_level("sql") == "INFO"


def test_an_unknown_log_level_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--log-level", "LOUD", "query"])
    assert exited.value.code == 2
    assert "unknown log level 'LOUD'" in capsys.readouterr().err


def test_warehouse_setup_names_the_outputs_a_stack_lacks():
    import boto3
    from botocore.stub import Stubber

    from ecomflow.cli.warehouse import stack_outputs
    from ecomflow.errors import InputError

    cloudformation = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x",
                                  aws_secret_access_key="x")
    old_stack = {"Stacks": [{"StackName": "ecomflow-dev", "CreationTime": "2026-01-01T00:00:00Z",
                             "StackStatus": "UPDATE_COMPLETE",
                             "Outputs": [{"OutputKey": "RedshiftWorkgroupName", "OutputValue": "ecomflow-dev"}]}]}
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", old_stack, {"StackName": "ecomflow-dev"})
        with pytest.raises(InputError, match="RedshiftEtlSecretArn"):
            stack_outputs(cloudformation, "ecomflow-dev")


def test_the_new_commands_parse():
    from ecomflow.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["warehouse", "setup", "--stack", "ecomflow-dev"]).stack == "ecomflow-dev"
    args = parser.parse_args(["archive", "--raw", "/tmp/raw", "--checkpoint_location", "/tmp/ckpt"])
    assert (args.stream_name, args.follow) == ("ecomflow-records", False)
