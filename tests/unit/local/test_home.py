"""Where the local tools find the project: ECOMFLOW_HOME, the checkout, else the current directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecomflow.local import home


def test_the_checkout_finds_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(home.ENV_HOME, raising=False)
    root = home.project_root()
    assert (root / "setup.py").is_file() and (root / "lambdas" / "ingest" / "app.py").is_file()
    assert home.state_root() == root / ".state"


def test_ecomflow_home_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(home.ENV_HOME, str(tmp_path / "elsewhere" / ".." / "project"))
    assert home.project_root() == tmp_path / "project"
    assert home.state_root() == tmp_path / "project" / ".state"


def test_an_installed_package_without_a_checkout_uses_the_current_directory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"  # what a wheel install looks like: no setup.py, no lib/ecomflow
    (site / "ecomflow" / "local").mkdir(parents=True)
    monkeypatch.delenv(home.ENV_HOME, raising=False)
    monkeypatch.setattr(home, "_SOURCE_TREE", site)
    monkeypatch.chdir(tmp_path)
    assert home.project_root() == tmp_path
    assert not home.is_checkout(site)


def test_the_local_stack_and_the_notebooks_keep_their_state_under_the_project(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    from ecomflow.local.localstack import StackSettings

    monkeypatch.setenv(home.ENV_HOME, str(tmp_path))
    assert StackSettings.from_env({}).state_dir == tmp_path / ".state" / "local"
