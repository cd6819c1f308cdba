"""Run the API in several worker processes, each accepting on its own ``SO_REUSEPORT`` socket.

Why not uvicorn's ``--workers``: its workers share one listening socket and the kernel gives each
new connection to whichever worker wakes first. Clients that keep connections alive (tills, shop
front ends, a load balancer's pool) then pile onto one worker: measured here, 35 of 50 keep-alive
connections on one of two workers, which became the bottleneck for throughput and tail latency.
With one ``SO_REUSEPORT`` socket per worker the kernel spreads connections over the workers by a
hash of the client address (Linux).

    python -m commerce_api.serve --port 8000 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import socket
import sys

import uvicorn

APP = "commerce_api.app:create_app"


def _tcp_socket(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound with ``SO_REUSEPORT`` (several processes may bind the same address)."""
    sock = _tcp_socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def ensure_port_free(host: str, port: int) -> None:
    """Raise if something listens on ``host:port`` already. ``SO_REUSEPORT`` would otherwise let our
    workers join a stale server of the same user and silently share its traffic; a plain bind fails."""
    with _tcp_socket(host) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot serve on {host}:{port}: {exc.strerror} (is another server running?)") from exc


def _worker(host: str, port: int, log_level: str) -> None:
    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, factory=True, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "warning") -> None:
    """Serve the API until interrupted; ``workers`` processes, each with its own socket. The schema
    must be migrated first (``smartmall api serve`` does it), or every worker would try at once."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if port == 0:
        raise ValueError("give a port: with port 0 every worker would listen on a different one")
    ensure_port_free(host, port)
    if workers == 1:
        _worker(host, port, log_level)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(host, port, log_level), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()

    def stop(signum: int, _frame: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()  # uvicorn shuts down gracefully on SIGTERM

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise SystemExit(f"a worker exited with {failed[0]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.workers, args.log_level)


if __name__ == "__main__":
    main(sys.argv[1:])
