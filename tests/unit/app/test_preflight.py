"""Local paths checked before Spark starts: the input holds data Spark reads, the outputs can be written."""

from __future__ import annotations

import os

import pytest

from ecomflow.app.preflight import check_file_writable, check_input, check_writable, is_hidden
from ecomflow.errors import InputError, OutputError


@pytest.mark.parametrize(("name", "hidden"), [("_SUCCESS", True), (".part.crc", True), ("_temporary", True),
                                              ("a.csv._COPYING_", True), ("year=2011", False),
                                              ("_metadata", False), ("part-0.csv", False)])
def test_hidden_names_are_those_spark_skips(name, hidden):
    assert is_hidden(name) is hidden


def test_missing_input_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"^input .*absent\.csv does not exist$"):
        check_input(f"file://{tmp_path}/absent.csv")


@pytest.mark.parametrize("entries", [(), ("_SUCCESS", ".crc"), ("_SUCCESS", "sub/")])
def test_a_folder_without_data_files_is_refused(tmp_path, entries):
    for name in entries:
        if name.endswith("/"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "data.csv").write_text("x\n")  # a non-partition folder: Spark does not read it
        else:
            (tmp_path / name).write_text("")
    with pytest.raises(InputError, match="holds no data files"):
        check_input(str(tmp_path))


def test_a_folder_with_a_data_file_or_a_partition_folder_passes(tmp_path):
    (tmp_path / "year=2011").mkdir()
    (tmp_path / "year=2011" / "part-0.csv").write_text("x\n")
    check_input(f"file://{tmp_path}")
    (tmp_path / "_SUCCESS").write_text("")
    check_input(f"file://{tmp_path}")


def test_a_hidden_file_named_as_input_is_refused(tmp_path):
    (tmp_path / "_export.csv").write_text("x\n")
    with pytest.raises(InputError, match="Spark skips files whose names start with"):
        check_input(str(tmp_path / "_export.csv"))


def test_s3_uris_and_globs_are_left_to_spark(tmp_path):
    check_input("s3://raw/none.csv")
    check_input(f"file://{tmp_path}/*.csv")
    check_writable("s3://lake", "lake")


def test_a_lake_under_a_regular_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"lake .*file/lake cannot be created: .*file is a regular file"):
        check_writable(f"file://{tmp_path}/file/lake", "lake")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_writable(f"file://{tmp_path}/file", "lake")


def test_a_read_only_lake_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root, which writes to a 0555 folder regardless: "
                    "test_a_lake_under_a_regular_file_is_refused covers an unwritable lake")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(OutputError, match="is read-only for this user"):
        check_writable(f"file://{locked}/lake", "lake")


def test_new_and_existing_writable_outputs_pass(tmp_path):
    check_writable(f"file://{tmp_path}/new/lake", "lake")
    check_writable(str(tmp_path), "lake")
    check_file_writable(str(tmp_path / "reports" / "r.json"), "report")
    with pytest.raises(OutputError, match="is a folder, not a file"):
        check_file_writable(str(tmp_path), "report")
