"""The front door: help a newcomer can follow, and clear errors instead of tracebacks."""

from __future__ import annotations

from tests.helpers import run_cli


def test_help_lists_every_command(tmp_path):
    out = run_cli(tmp_path, "--help").stdout
    for command in ("demo", "generate", "import", "run", "status", "quarantine", "sql", "ui"):
        assert command in out


def test_run_with_nothing_landed_says_what_to_do(tmp_path):
    proc = run_cli(tmp_path, "run", check=False)
    assert proc.returncode != 0
    assert "nothing has landed" in proc.stderr and "smartmall generate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_import_folder_errors_are_clear(tmp_path):
    proc = run_cli(tmp_path, "import", "folder", check=False)
    assert proc.returncode != 0 and "--path" in proc.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "transactions.csv").write_text("order_id,sku\n1,A\n")
    proc = run_cli(tmp_path, "import", "folder", "--path", str(tmp_path / "mine"), check=False)
    assert proc.returncode != 0 and "missing required column" in proc.stderr and "Traceback" not in proc.stderr


def test_status_without_a_warehouse_says_so_and_still_shows_the_settings(tmp_path):
    proc = run_cli(tmp_path, "status")
    assert "No warehouse at" in proc.stdout and "SMARTMALL_FORECAST_HORIZON_WEEKS" in proc.stdout
    proc = run_cli(tmp_path, "sql", "SELECT 1", check=False)
    assert proc.returncode != 0 and "no warehouse" in proc.stderr


def test_generate_small_writes_a_manifest(tmp_path):
    out = run_cli(tmp_path, "generate", "--scale", "small").stdout
    assert "Generated 2025-01-01..2025-04-30" in out
    assert (tmp_path / "landing" / "_manifest.json").exists()


def _command_paths(parser, prefix=()):
    """Every command path of the parser tree: (), ('demo',), ('api',), ('api', 'serve'), ..."""
    import argparse

    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_paths(sub, (*prefix, name))


def test_every_command_answers_help(capsys):
    """``-h`` and ``--help`` work at every level of the command tree (walked from the parser, so a
    new command is covered by this test without touching it)."""
    from pipelines.cli import build_parser

    paths = list(_command_paths(build_parser()))
    assert ("api", "serve") in paths and ("import",) in paths and len(paths) > 15
    for path in paths:
        for flag in ("-h", "--help"):
            try:
                build_parser().parse_args([*path, flag])
            except SystemExit as exc:
                assert exc.code == 0, (path, flag)
            else:
                raise AssertionError(f"smartmall {' '.join(path)} {flag} did not print its help")
            out = capsys.readouterr().out
            assert out.startswith("usage: smartmall" + "".join(f" {p}" for p in path)), (path, out[:200])


def test_api_help_and_bad_arguments_in_a_real_process(tmp_path):
    out = run_cli(tmp_path, "api", "-h").stdout
    for command in ("serve", "migrate", "seed", "create-key", "sweep", "export-stock"):
        assert command in out
    assert "--workers" in run_cli(tmp_path, "api", "serve", "--help").stdout
    proc = run_cli(tmp_path, "api", "create-key", "--role", "king", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "invalid choice: 'king'" in lines[0] and "smartmall api create-key --help" in lines[0]
    proc = run_cli(tmp_path, "evaluate", "--no-such-flag", check=False)
    assert proc.returncode == 2 and "--no-such-flag" in proc.stderr and "--help" in proc.stderr


def test_status_shows_the_effective_settings(small_home, monkeypatch):
    monkeypatch.setenv("SMARTMALL_FORECAST_HORIZON_WEEKS", "13")
    out = run_cli(small_home, "status").stdout
    line = next(x for x in out.splitlines() if "SMARTMALL_FORECAST_HORIZON_WEEKS" in x)
    assert line.split()[1:3] == ["13", "environment"]
    line = next(x for x in out.splitlines() if "SMARTMALL_CHURN_HORIZON_DAYS" in x)
    assert line.split()[1:3] == ["90", "default"]
    monkeypatch.setenv("SMARTMALL_FORECAST_HORIZON_WEEKS", "a quarter")
    proc = run_cli(small_home, "status", check=False)
    assert proc.returncode != 0 and "SMARTMALL_FORECAST_HORIZON_WEEKS" in proc.stderr and "Traceback" not in proc.stderr
