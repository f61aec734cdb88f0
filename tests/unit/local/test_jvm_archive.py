"""The local driver's class archive: used only when complete, keyed by what the JVM checks."""

from __future__ import annotations

import subprocess

import pytest

from ecomflow.local import jvm_archive


@pytest.fixture()
def archive_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(jvm_archive.ENV_DIR, str(tmp_path))
    monkeypatch.delenv(jvm_archive.ENV_SWITCH, raising=False)
    return tmp_path


def test_no_archive_no_option(archive_dir):
    assert jvm_archive.java_options() == ""


def test_a_complete_archive_is_mapped(archive_dir):
    path = jvm_archive.archive_path()
    path.write_bytes(b"archive")
    assert jvm_archive.java_options() == f"-XX:SharedArchiveFile={path}"


def test_switched_off_it_is_not_used(archive_dir, monkeypatch):
    jvm_archive.archive_path().write_bytes(b"archive")
    monkeypatch.setenv(jvm_archive.ENV_SWITCH, "off")
    assert jvm_archive.java_options() == ""
    assert jvm_archive.build() is None


def test_other_jars_other_archive(archive_dir):
    assert jvm_archive.archive_path("/usr/share/java/postgresql.jar") != jvm_archive.archive_path("")


def test_a_failed_dump_leaves_nothing_to_map(archive_dir, monkeypatch):
    def failing_child(command, **kwargs):
        partial = command[command.index("--dump") + 1]
        with open(partial, "wb") as handle:
            handle.write(b"half an archive")  # what a JVM killed while dumping leaves
        return subprocess.CompletedProcess(command, 137)

    monkeypatch.setattr(jvm_archive.subprocess, "run", failing_child)
    with pytest.raises(RuntimeError, match="exit 137"):
        jvm_archive.build()
    assert list(archive_dir.iterdir()) == []
    assert jvm_archive.java_options() == ""


def test_a_clean_dump_is_renamed_into_place(archive_dir, monkeypatch):
    def child(command, **kwargs):
        assert kwargs["env"][jvm_archive.ENV_SWITCH] == "off"  # the child must not map an archive
        with open(command[command.index("--dump") + 1], "wb") as handle:
            handle.write(b"archive")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(jvm_archive.subprocess, "run", child)
    path = jvm_archive.build()
    assert path == jvm_archive.archive_path() and path.read_bytes() == b"archive"
    assert [p.name for p in archive_dir.iterdir()] == [path.name]
