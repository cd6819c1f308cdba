"""``commerce_api.serve``: several workers, the parent handing each new connection to the worker
holding the fewest, so keep-alive clients are spread evenly; all stop together."""

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
from commerce_api.serve import listening_socket, serve
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


def _start(tmp_path: Path, workers: int) -> tuple[subprocess.Popen, int]:
    url = f"sqlite:///{tmp_path / 'commerce.db'}"
    build_services(ApiSettings(database_url=url)).sessions.kw["bind"].dispose()  # migrate once, as the CLI does
    port = _free_port()
    env = {**os.environ, "COMMERCE_DATABASE_URL": url, "SMARTMALL_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "commerce_api.serve", "--port", str(port), "--workers",
                             str(workers)], cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.2)
    time.sleep(1.0)  # let every worker finish starting too
    return proc, port


def test_two_workers_share_keep_alive_connections_evenly_and_stop_together(tmp_path):
    proc, port = _start(tmp_path, 2)
    try:
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        base = f"http://127.0.0.1:{port}"
        clients = [httpx.Client(base_url=base) for _ in range(40)]  # 40 keep-alive connections
        for c in clients:
            assert c.get("/health").status_code == 200
        per_worker = _established_per_process(port, workers)
        assert sorted(per_worker.values()) == [20, 20], per_worker
        gone, kept = clients[::2], clients[1::2]  # handed out in turn: every other one is one worker's
        for c in gone:
            c.close()
        time.sleep(0.5)
        assert sorted(_established_per_process(port, workers).values()) == [0, 20]
        late = [httpx.Client(base_url=base) for _ in range(10)]  # all to the worker now holding none
        for c in late:
            assert c.get("/health").status_code == 200
        assert sorted(_established_per_process(port, workers).values()) == [10, 20]
        for c in kept + late:
            c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not _worker_pids(proc.pid)


def test_serve_stops_and_fails_when_a_worker_dies(tmp_path):
    proc, port = _start(tmp_path, 2)
    try:
        workers = _worker_pids(proc.pid)
        os.kill(min(workers), signal.SIGKILL)
        assert proc.wait(timeout=30) != 0
        assert not _worker_pids(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_refuses_port_zero_and_no_workers():
    with pytest.raises(ValueError, match="port"):
        serve(port=0, workers=2)
    with pytest.raises(ValueError, match="workers"):
        serve(port=8000, workers=0)


def test_serve_refuses_a_port_another_server_listens_on():
    port = _free_port()
    listening_socket("127.0.0.1", port).close()  # free: bound and let go
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(SystemExit, match="another server"):
            serve(port=port, workers=2)
    with socket.socket() as stale:  # even one that allows port sharing (SO_REUSEPORT) itself
        stale.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        stale.bind(("127.0.0.1", port))
        stale.listen()
        with pytest.raises(SystemExit, match="another server"):
            listening_socket("127.0.0.1", port)
