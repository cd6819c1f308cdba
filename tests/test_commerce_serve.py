"""``commerce_api.serve``: several workers, the parent handing each new connection to the worker
holding the fewest, so keep-alive clients are spread evenly; all stop together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from commerce_api.app import build_services
from commerce_api.auth import create_key
from commerce_api.db import transaction
from commerce_api.serve import listening_socket, serve
from data.settings import Settings
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


def _start(tmp_path: Path, workers: int, url: str | None = None) -> tuple[subprocess.Popen, int]:
    """``python -m commerce_api.serve`` on a free port, once every worker says it is serving."""
    url = url or f"sqlite:///{tmp_path / 'commerce.db'}"
    build_services(Settings(commerce_database_url=url)).sessions.kw["bind"].dispose()  # migrate once, as the CLI does
    port = _free_port()
    env = {**os.environ, "COMMERCE_DATABASE_URL": url, "SMARTMALL_HOME": str(tmp_path)}
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "commerce_api.serve", "--port", str(port), "--workers",
                             str(workers)], cwd=REPO, env=env, stderr=log.open("w"))
    _wait_for(log, f"({workers} of {workers})", proc)
    return proc, port


def _wait_for(log: Path, text: str, proc: subprocess.Popen, times: int = 1, seconds: float = 60) -> None:
    """Until ``text`` is in the serve log ``times`` times."""
    deadline = time.monotonic() + seconds
    while log.read_text().count(text) < times:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{log.read_text()}"
        time.sleep(0.1)


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


def _admin_key(url: str) -> str:
    svc = build_services(Settings(commerce_database_url=url))
    with transaction(svc.sessions) as s:
        key = create_key(s, "admin", name="kill test")
    svc.sessions.kw["bind"].dispose()
    return key


def test_a_killed_worker_is_replaced_and_the_others_keep_serving_under_load(tmp_path, pg_url):
    """SIGKILL of one of two workers while 8 clients read from PostgreSQL: the API keeps answering,
    a new worker takes the dead one's place within a second, only requests in flight on it fail."""
    proc, port = _start(tmp_path, 2, pg_url)
    key = _admin_key(pg_url)
    outcomes: list[tuple[float, bool]] = []  # (time, succeeded)
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=5) as c:
            while not stop.is_set():
                try:
                    ok = c.get("/products").status_code == 200
                except httpx.HTTPError:
                    ok = False
                outcomes.append((time.monotonic(), ok))

    try:
        before = _worker_pids(proc.pid)
        assert len(before) == 2
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        victim = min(before)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replaced_after = None
        while time.monotonic() - killed_at < 10:
            now = _worker_pids(proc.pid)
            if len(now) == 2 and victim not in now:
                replaced_after = time.monotonic() - killed_at
                break
            time.sleep(0.05)
        # the replacement, once serving, takes the new connections: the clients that lost theirs went
        # to the living worker meanwhile, so it holds the fewest
        _wait_for(tmp_path / "serve.log", "(2 of 2)", proc, times=2)
        fresh = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(4)]
        for c in fresh:
            assert c.get("/health").status_code == 200
        (replacement,) = _worker_pids(proc.pid) - before
        held = _established_per_process(port, _worker_pids(proc.pid))
        for c in fresh:
            c.close()
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        assert proc.poll() is None, "the serve process stopped"
        print(f"replaced after {replaced_after:.2f}s; {len(outcomes)} requests, "
              f"{len(outcomes) - sum(ok for _, ok in outcomes)} failed")
        assert replaced_after is not None and replaced_after < 1.0, replaced_after
        during = [ok for at, ok in outcomes if killed_at <= at < killed_at + 1.0]
        after = [ok for at, ok in outcomes if at >= killed_at + 1.0]
        failed = len(outcomes) - sum(ok for _, ok in outcomes)
        assert failed <= 8, failed  # at most the requests in flight on the dead worker (one per client)
        assert sum(during) > 20, "the living worker did not keep serving"
        assert len(after) > 100 and all(after)
        assert held[replacement] >= 4, held
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not _worker_pids(proc.pid)


def test_a_worker_that_cannot_start_stops_serve_with_the_reason(tmp_path):
    port = _free_port()
    env = {**os.environ, "COMMERCE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "SMARTMALL_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "commerce_api.serve", "--port", str(port), "--workers", "2"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "could not start" in proc.stderr


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
