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
