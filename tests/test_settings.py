"""One settings object (``data.settings``): precedence, origins, bad values, and no other reader of
smartmall's environment variables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from data.settings import SETTINGS_FILE, Settings, SettingsError, env_name, load_settings
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
OURS = ("SMARTMALL_", "COMMERCE_")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    for name in Settings.model_fields:
        monkeypatch.delenv(env_name(name), raising=False)
    monkeypatch.setenv("SMARTMALL_HOME", str(tmp_path))
    return tmp_path


def test_an_argument_beats_the_environment_which_beats_the_file_which_beats_the_default(home, monkeypatch):
    (home / SETTINGS_FILE).write_text("forecast_horizon_weeks = 13\nchurn_horizon_days = 60\n"
                                      "rules_min_support = 0.01\ncurrency = '€'\n")
    monkeypatch.setenv("SMARTMALL_CHURN_HORIZON_DAYS", "120")
    monkeypatch.setenv("SMARTMALL_RULES_MIN_SUPPORT", "0.02")
    s = load_settings(rules_min_support=0.03)
    assert (s.forecast_horizon_weeks, s.churn_horizon_days, s.rules_min_support, s.currency, s.rfm_snapshots) \
        == (13, 120, 0.03, "€", 12)
    assert s.origin("forecast_horizon_weeks") == str(home / SETTINGS_FILE)
    assert s.origin("churn_horizon_days") == "environment"
    assert s.origin("rules_min_support") == "argument"
    assert s.origin("rfm_snapshots") == "default"
    assert s.origin("home") == "environment" and s.home == home.resolve()
    # the paths follow the home, and each can be moved on its own
    assert s.warehouse == home.resolve() / "warehouse" / "smartmall.duckdb"
    assert s.database_url == f"sqlite:///{home.resolve() / 'commerce' / 'commerce.db'}"
    monkeypatch.setenv("SMARTMALL_REGISTRY_DIR", str(home / "elsewhere"))
    assert load_settings().registry == (home / "elsewhere").resolve()


def test_values_are_read_once_when_the_settings_are_made(home, monkeypatch):
    s = load_settings()
    monkeypatch.setenv("SMARTMALL_FORECAST_HORIZON_WEEKS", "26")
    assert s.forecast_horizon_weeks == 8 and s.origin("forecast_horizon_weeks") == "default"
    assert load_settings().forecast_horizon_weeks == 26


@pytest.mark.parametrize(("var", "value", "says"), [
    ("SMARTMALL_FORECAST_HORIZON_WEEKS", "a quarter", "valid integer"),
    ("SMARTMALL_COUPON_SEND_SHARE", "1.5", "less than or equal to 1"),
    ("COMMERCE_DB_POOL", "0", "greater than 0"),
    ("COMMERCE_NON_RETURNABLE_CATEGORIES", "Fresh Food", "JSON"),
])
def test_a_bad_value_is_refused_with_its_variable(home, monkeypatch, var, value, says):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=var) as caught:
        load_settings()
    assert says in str(caught.value) or "parse" in str(caught.value)


def test_the_settings_file_is_checked_too(home):
    (home / SETTINGS_FILE).write_text("forcast_horizon_weeks = 13\n")  # misspelt
    with pytest.raises(SettingsError, match="unknown settings forcast_horizon_weeks"):
        load_settings()
    (home / SETTINGS_FILE).write_text("forecast_horizon_weeks = 0\n")
    with pytest.raises(SettingsError, match="SMARTMALL_FORECAST_HORIZON_WEEKS"):
        load_settings()
    (home / SETTINGS_FILE).write_text("forecast_horizon_weeks = \n")
    with pytest.raises(SettingsError, match=SETTINGS_FILE):
        load_settings()


def test_secrets_come_from_the_environment_or_the_generated_file_and_are_never_shown(home, monkeypatch):
    (home / "commerce").mkdir()
    (home / "commerce" / "secrets.json").write_text('{"alipay": "from-the-file-0123456789"}')
    monkeypatch.setenv("COMMERCE_WECHAT_PAY_SECRET", "from-the-environment-0123")
    s = load_settings()
    assert s.provider_secrets() == {"wechat_pay": "from-the-environment-0123", "alipay": "from-the-file-0123456789",
                                    "simulated_carrier": ""}
    rows = {env: (value, origin) for env, value, origin, _ in s.effective()}
    assert rows["COMMERCE_ALIPAY_SECRET"] == ("set (24 chars)", str(home / "commerce" / "secrets.json"))
    assert rows["COMMERCE_WECHAT_PAY_SECRET"][1] == "environment"
    assert rows["COMMERCE_CARRIER_SECRET"] == ("unset", "default")
    assert not any("from-the" in value for value, _ in rows.values())


def test_status_names_the_file_a_setting_came_from(tmp_path):
    (tmp_path / SETTINGS_FILE).write_text("forecast_horizon_weeks = 13\n")
    out = run_cli(tmp_path, "status", unset=("SMARTMALL_FORECAST_HORIZON_WEEKS",)).stdout
    line = next(x for x in out.splitlines() if "SMARTMALL_FORECAST_HORIZON_WEEKS" in x)
    assert line.split()[1:3] == ["13", str(tmp_path / SETTINGS_FILE)]
    for name in Settings.model_fields:  # every setting is listed
        assert env_name(name) in out


def test_the_api_commands_stop_on_a_bad_setting_without_a_traceback(tmp_path):
    proc = run_cli(tmp_path, "api", "migrate", check=False, env={"COMMERCE_DB_POOL": "many"})
    assert proc.returncode != 0 and "COMMERCE_DB_POOL" in proc.stderr and "Traceback" not in proc.stderr


def _environment_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, variable) of every read of a constant environment variable: ``os.environ.get(X)``,
    ``os.getenv(X)``, ``os.environ[X]`` (not as the target of an assignment), ``X in os.environ``."""
    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    found = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if (node.func.attr in ("get", "setdefault") and is_environ(node.func.value)) or node.func.attr == "getenv":
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            key = node.left
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append((node.lineno, key.value))
    return found


def test_no_module_but_the_settings_reads_smartmalls_environment_variables():
    readers = []
    for package in ("pipelines", "commerce_api", "dashboards", "serving", "models", "data"):
        for path in (REPO / package).rglob("*.py"):
            if path == REPO / "data" / "settings.py":
                continue
            for line, var in _environment_reads(ast.parse(path.read_text())):
                if var.startswith(OURS):
                    readers.append(f"{path.relative_to(REPO)}:{line} reads {var}")
    assert not readers, "read it through data.settings instead:\n" + "\n".join(readers)
    # and the scan does see a read
    assert _environment_reads(ast.parse("import os\nos.environ.get('SMARTMALL_X')")) == [(2, "SMARTMALL_X")]
