"""Shared fixtures: a small synthetic landing folder and a warehouse built from it by the real CLI."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from commerce_api.signing import SECRET_VARS
from data.synthetic.generate import generate
from tests.helpers import run_cli

pytest_plugins = ["tests.commerce_fixtures"]

# the commerce API refuses to start without signing secrets: this run's own (servers it starts inherit them)
for _var in SECRET_VARS.values():
    os.environ.setdefault(_var, secrets.token_urlsafe(32))


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "landing"
    generate(out, "small", seed=7)
    return out


@pytest.fixture(scope="session")
def small_home(tmp_path_factory, small_landing) -> Path:
    """A SMARTMALL_HOME built by the README's main job, ``smartmall demo``, at the small scale
    (the same seed as ``small_landing``, so its landing folder holds the same files)."""
    home = tmp_path_factory.mktemp("small_home")
    proc = run_cli(home, "demo", "--scale", "small", "--seed", "7")
    assert "Pipeline succeeded" in proc.stdout and "Where to look next" in proc.stdout, proc.stdout
    # Dagster's and dbt's chatter goes to the run log, not the terminal
    assert "dagster.builtin" not in proc.stdout + proc.stderr
    landed = sorted(p.relative_to(home / "landing") for p in (home / "landing").rglob("*.parquet"))
    assert [p for p in landed if not p.name.startswith("api-")] == \
        sorted(p.relative_to(small_landing) for p in small_landing.rglob("*.parquet"))
    # besides the feeds: the demo campaign's 'Promotion Viewed' events, posted through POST /events
    assert any(p.name.startswith("api-") for p in landed)
    return home


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory) -> Path:
    """The embedded ClickHouse engine's data path: chdb allows one per process, so every test shares it
    (each works in databases or tables of its own)."""
    return tmp_path_factory.mktemp("chdb") / "data"
