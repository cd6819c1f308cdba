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


def test_status_without_a_warehouse(tmp_path):
    proc = run_cli(tmp_path, "status", check=False)
    assert proc.returncode != 0 and "no warehouse" in proc.stderr


def test_generate_small_writes_a_manifest(tmp_path):
    out = run_cli(tmp_path, "generate", "--scale", "small").stdout
    assert "Generated 2025-01-01..2025-04-30" in out
    assert (tmp_path / "landing" / "_manifest.json").exists()
