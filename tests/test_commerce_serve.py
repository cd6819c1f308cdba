"""``commerce_api.serve``: several workers, each on its own SO_REUSEPORT socket, sharing the
connections of keep-alive clients and stopping together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from commerce_api.app import build_services
from commerce_api.serve import ensure_port_free, listening_socket, serve
from commerce_api.settings import ApiSettings
from tests.commerce_fixtures import _free_port

REPO = Path(__file__).resolve().parent.parent


def _worker_pids(parent: int) -> set[int]:
    """The serving children of ``parent`` (not multiprocessing's resource tracker)."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    return {int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line}


def _established_per_process(port: int, pids: set[int]) -> dict[int, int]:
    """Established connections accepted on ``port``, per process holding them (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    out = {}
    for pid in pids:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        out[pid] = sum(link.startswith("socket:[") and link[8:-1] in inodes for link in links)
    return out


def test_two_workers_share_keep_alive_connections_and_stop_together(tmp_path):
    url = f"sqlite:///{tmp_path / 'commerce.db'}"
    build_services(ApiSettings(database_url=url)).sessions.kw["bind"].dispose()  # migrate once, as the CLI does
    port = _free_port()
    env = {**os.environ, "COMMERCE_DATABASE_URL": url, "SMARTMALL_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "commerce_api.serve", "--port", str(port), "--workers", "2"],
                            cwd=REPO, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        time.sleep(1.0)  # let the second worker finish starting too
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        clients = [httpx.Client(base_url=base) for _ in range(40)]  # 40 keep-alive connections
        for c in clients:
            assert c.get("/health").status_code == 200
        per_worker = _established_per_process(port, workers)
        assert sum(per_worker.values()) == 40
        assert min(per_worker.values()) >= 8, per_worker  # spread by the kernel, not piled on one worker
        for c in clients:
            c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not _worker_pids(proc.pid)


def test_serve_refuses_port_zero_and_no_workers():
    with pytest.raises(ValueError, match="port"):
        serve(port=0, workers=2)
    with pytest.raises(ValueError, match="workers"):
        serve(port=8000, workers=0)


def test_listening_sockets_can_share_a_port():
    port = _free_port()
    a, b = listening_socket("127.0.0.1", port), listening_socket("127.0.0.1", port)
    try:
        assert a.getsockname() == b.getsockname()
    finally:
        a.close()
        b.close()


def test_serve_refuses_a_port_another_server_listens_on():
    """SO_REUSEPORT would let the workers join a stale server's port and share its traffic: refused."""
    port = _free_port()
    ensure_port_free("127.0.0.1", port)
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(SystemExit, match="another server"):
            serve(port=port, workers=2)
    stale = listening_socket("127.0.0.1", port)  # even one that allows port sharing itself
    try:
        with pytest.raises(SystemExit, match="another server"):
            ensure_port_free("127.0.0.1", port)
    finally:
        stale.close()
