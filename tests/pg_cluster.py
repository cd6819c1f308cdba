"""A PostgreSQL server of a test's own (``initdb`` in a scratch directory, on a free port), that the
test may stop, restart and start again: the shared server of the other tests must never go down."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.commerce_fixtures import _free_port


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL's server programs are not installed (scripts/postgres.sh installs them)")
    return str(versions[-1] / name)


@dataclass
class PgCluster:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [_bin("pg_ctl"), "-D", str(self.directory / "data"), *args]
        if os.geteuid() == 0:  # the server refuses to run as root
            command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in command)]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._ctl("-o", options, "-l", str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, clients cut off."""
        self._ctl("-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self._ctl("-m", "fast", "-l", str(self.directory / "server.log"), "-w", "restart")

    def is_up(self) -> bool:
        return self._ctl("status", check=False).returncode == 0


def create_cluster() -> PgCluster:
    """A new cluster, started (trust authentication on loopback, user ``postgres``)."""
    directory = Path(tempfile.mkdtemp(prefix="smartmall-pg-", dir="/tmp"))
    os.chmod(directory, 0o777)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    cluster = PgCluster(directory, _free_port())
    init = [_bin("initdb"), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres", "--no-sync"]
    if os.geteuid() == 0:
        init = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(init)]
    subprocess.run(init, capture_output=True, text=True, check=True, timeout=120)
    cluster.start()
    deadline = time.monotonic() + 30
    while not cluster.is_up():
        if time.monotonic() > deadline:
            raise RuntimeError((directory / "server.log").read_text())
        time.sleep(0.2)
    return cluster


def remove_cluster(cluster: PgCluster) -> None:
    if cluster.is_up():
        cluster._ctl("-m", "immediate", "-w", "stop", check=False)
    shutil.rmtree(cluster.directory, ignore_errors=True)
