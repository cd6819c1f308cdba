"""Shared fixtures: a small synthetic landing folder and a warehouse built from it by the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data.synthetic.generate import generate
from tests.helpers import run_cli

pytest_plugins = ["tests.commerce_fixtures"]


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "landing"
    generate(out, "small", seed=7)
    return out


@pytest.fixture(scope="session")
def small_home(tmp_path_factory, small_landing) -> Path:
    """A SMARTMALL_HOME whose warehouse was built from the small scale by ``smartmall run``."""
    home = tmp_path_factory.mktemp("small_home")
    shutil.copytree(small_landing, home / "landing")
    run_cli(home, "run")
    return home
