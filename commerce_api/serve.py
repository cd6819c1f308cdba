"""Run the API in several worker processes; the parent accepts connections and hands each to the
worker holding the fewest.

Why not let the kernel spread them: uvicorn's ``--workers`` share one listening socket and whichever
worker wakes first accepts (measured here: 35 of 50 keep-alive connections on one of two workers);
one ``SO_REUSEPORT`` socket per worker spreads them by a hash of the client address, which split 50
connections anywhere from 20/30 to 23/27 from run to run. Keep-alive clients (tills, shop front
ends, a load balancer's pool) stay on the worker they landed on, so the busier worker's queue sets
the tail latency: checkout p99 went 109 ms at 23/27, 124 ms at 21/29, 253 ms at 20/30. Here the
parent accepts, passes the socket to the least-loaded worker over a Unix socket (``SCM_RIGHTS``),
and the worker serves it with uvicorn's own HTTP protocol, exactly as if it had accepted it.

The parent is also the workers' supervisor: a worker that dies (out of memory, a crash in a C
extension, a stray ``kill``) costs only the connections it held; the parent starts another in its
place at once and hands new connections to the living meanwhile. (Why not gunicorn's arbiter with
uvicorn workers: its workers share one listening socket, the uneven spread measured above.)

    python -m commerce_api.serve --port 8000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import selectors
import signal
import socket
import sys

import uvicorn

APP = "commerce_api.app:create_app"


class _Stop(Exception):
    """Raised by the parent's signal handler to leave its accept loop."""


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to ``host:port``; SystemExit naming the cause if that address is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot serve on {host}:{port}: {exc.strerror} (is another server running?)") from exc
    sock.listen(backlog)
    return sock


def _config(log_level: str) -> uvicorn.Config:
    return uvicorn.Config(APP, factory=True, log_level=log_level, access_log=False)


class _HandedServer(uvicorn.Server):
    """A uvicorn server that listens on nothing: it serves the connections the parent sends over
    ``channel``, and counts in ``closed[slot]`` those that have ended."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket, closed, slot: int) -> None:
        super().__init__(config)
        self.channel, self.closed, self.slot = channel, closed, slot

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan, no listener
        server = self

        class Counted(self.config.http_protocol_class):  # uvicorn's own HTTP protocol, counting its ends
            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                server.closed[server.slot] += 1

        self.protocol_class = Counted
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._take, loop)
        self.channel.send(READY)  # the supervisor hands connections only to workers that have started

    def _protocol(self) -> asyncio.Protocol:
        # what uvicorn's own listener builds for each connection it accepts
        return self.protocol_class(config=self.config, server_state=self.server_state, app_state=self.lifespan.state)

    def _take(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, 64, 64)
        except BlockingIOError:
            return
        if not data:  # the parent is gone: stop like on SIGTERM
            loop.remove_reader(self.channel.fileno())
            self.should_exit = True
            return
        for fd in fds:
            loop.create_task(self._serve_connection(loop, socket.socket(fileno=fd)))

    async def _serve_connection(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, conn)
        except OSError:  # the client left before we got to it
            conn.close()
            self.closed[self.slot] += 1


BOOT_FAILED = 3  # a worker's exit code when the app failed to start: respawning would only repeat it
READY = b"r"  # what a worker sends its supervisor once it serves


def _worker(channel: socket.socket, closed, slot: int, log_level: str) -> None:
    server = _HandedServer(_config(log_level), channel, closed, slot)
    try:
        server.run()
    finally:
        if not server.started:  # the app could not start (e.g. no database): tell the supervisor
            sys.exit(BOOT_FAILED)


class _Workers:
    """The worker processes, each with the parent's end of its channel and its connection counts;
    a worker that dies is replaced in its slot (like gunicorn's arbiter): only the connections it
    held are lost, the others keep serving meanwhile."""

    def __init__(self, count: int, log_level: str) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.closed = self.ctx.Array("q", count, lock=False)  # connections ended, per slot (written by the worker)
        self.sent = [0] * count  # connections handed to each slot (written here)
        self.ready = [False] * count  # has the slot's worker started (a new one takes a second or more)
        self.selector: selectors.BaseSelector | None = None  # the hand-out loop's, once it runs
        self.log_level = log_level
        self.procs: list = [None] * count
        self.channels: list[socket.socket | None] = [None] * count
        self.replaced = 0
        for slot in range(count):
            self.start(slot)

    def start(self, slot: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sent[slot] = self.closed[slot] = 0
        self.ready[slot] = False
        proc = self.ctx.Process(target=_worker, args=(theirs, self.closed, slot, self.log_level), daemon=True)
        proc.start()
        theirs.close()
        self.procs[slot], self.channels[slot] = proc, ours

    def replace(self, slot: int) -> None:
        """Start a new worker in the slot of one that died (after reaping it)."""
        proc = self.procs[slot]
        proc.join()
        if proc.exitcode == BOOT_FAILED:
            raise SystemExit(f"a worker could not start the API (exit {BOOT_FAILED}); see the error above")
        print(f"smartmall api: worker {proc.pid} exited with {proc.exitcode}; starting a new one",
              file=sys.stderr, flush=True)
        if self.selector is not None:  # stop listening on the dead worker's channel before closing it
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.channels[slot])
        self.channels[slot].close()
        self.replaced += 1
        self.start(slot)

    def heard(self, slot: int) -> None:
        """The slot's worker wrote to its channel: it has started."""
        try:
            if self.channels[slot].recv(16):
                self.ready[slot] = True
                print(f"smartmall api: worker {self.procs[slot].pid} serving ({sum(self.ready)} of {len(self.ready)})",
                      file=sys.stderr, flush=True)
        except OSError:  # it died meanwhile: its sentinel says so
            pass

    def hand(self, conn: socket.socket) -> int:
        """Send ``conn`` to the started worker holding the fewest (ties: the first; while none has
        started, any: the connection waits in its channel); returns its slot. A worker found dead on
        the way is replaced and the connection goes to the next one (or its successor)."""
        for _ in range(len(self.procs) + 1):
            slots = [i for i in range(len(self.procs)) if self.ready[i]] or range(len(self.procs))
            slot = min(slots, key=lambda i: self.sent[i] - self.closed[i])
            try:
                socket.send_fds(self.channels[slot], [b"c"], [conn.fileno()])
            except OSError:  # that worker is gone (its sentinel has not been read yet)
                self.replace(slot)
                continue
            self.sent[slot] += 1
            return slot
        raise SystemExit("no worker takes connections")

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for p in self.procs:
            p.join()
        for ours in self.channels:
            ours.close()


def _hand_out(listener: socket.socket, workers: _Workers) -> None:
    """Accept until stopped, handing each connection to a worker; replace a worker when it dies (its
    process sentinel becomes readable)."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    workers.selector = selector
    watched: set = set()
    while True:
        for slot, proc in enumerate(workers.procs):  # (re)started workers: their end and their channel
            if proc not in watched:
                selector.register(proc.sentinel, selectors.EVENT_READ, proc)
                selector.register(workers.channels[slot], selectors.EVENT_READ, slot)
                watched.add(proc)
        for key, _ in selector.select(timeout=1.0):
            if isinstance(key.data, int):  # a worker says it has started (or its end closed)
                selector.unregister(key.fileobj)  # one byte is all a worker ever says
                workers.heard(key.data)
                continue
            if key.data is not None:  # a worker died
                selector.unregister(key.fileobj)
                watched.discard(key.data)
                if key.data in workers.procs:  # not replaced already by ``hand``
                    workers.replace(workers.procs.index(key.data))
                continue
            try:
                conn, _ = listener.accept()
            except BlockingIOError:  # another accept took it meanwhile
                continue
            with conn:
                workers.hand(conn)


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "warning") -> None:
    """Serve the API until SIGTERM or SIGINT: ``workers`` processes, connections handed out by this
    one, a dead worker replaced at once. The schema must be migrated first (``smartmall api serve``
    does it), or every worker would try at once."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if port == 0:
        raise ValueError("give a port: clients need to know it")
    listener = listening_socket(host, port)
    pool = _Workers(workers, log_level)

    def stop(signum: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener.setblocking(False)
    try:
        _hand_out(listener, pool)
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        listener.close()
        pool.stop()


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
