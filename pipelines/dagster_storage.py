"""Dagster's SQLite event log, made fast enough for partitioned backfills.

A backfill of two years of daily partitions records one materialization (and one planned event)
per partition and asset: about 6,000 events for the demo. Dagster's stock SQLite event log opens
a new SQLAlchemy engine for every write (so every statement is compiled again) and syncs the
file on every commit; that cost 40-50 s of the demo's run. This subclass keeps one engine per
database file (the statement cache survives) and uses ``synchronous=NORMAL``, the setting SQLite
recommends with the WAL journal Dagster already enables: a commit is still atomic and the file
never corrupts; only the last commits before a power cut (not a process crash) can be lost.

Same files, same schema as the stock storage: ``dagster dev`` and any Dagster tool read them.
Selected in the ``dagster.yaml`` that ``pipelines.environment.prepare_environment`` writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# seconds a writer waits for another process's write lock (the stock storage's value)
BUSY_TIMEOUT_SECONDS = 30
# open database files kept per process: the index plus the runs being written or watched
MAX_OPEN_SHARDS = 8


def _tune(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class FastSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one cached engine per shard and ``synchronous=NORMAL``.

    Configured like the stock class: ``config: {base_dir: <folder of the per-run .db files>}``.
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> FastSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine_for(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                # one connection per file, used under the storage's own lock (``_db_lock``)
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=StaticPool,
                    connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                event.listen(engine, "connect", _tune)
            self._engines[shard] = engine
            while len(self._engines) > MAX_OPEN_SHARDS:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
