"""Engine and sessions for PostgreSQL (production, tests) and SQLite (embedded default)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg.rows import namedtuple_row
from sqlalchemy import (
    CTE,
    Connection,
    Dialect,
    Engine,
    Executable,
    Insert,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, pool_size: int = 20) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI objects
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            # one writer at a time, taken at BEGIN: a read-then-write transaction never deadlocks
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # no pre-ping (it costs a round trip per request); recycle instead, and a dead connection fails
    # its request with 503 (see errors.py) rather than going unnoticed
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that only read. On PostgreSQL they run in autocommit: no BEGIN and
    ROLLBACK round trips around the queries, and the same visibility as our READ COMMITTED
    transactions (each statement sees what was committed when it started). SQLite keeps its
    ordinary sessions (its driver's autocommit switch would undo the pragmas set at connect)."""
    if engine.dialect.name == "sqlite":
        return make_sessionmaker(engine)
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits at the end of the block, or rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def core(session: Session) -> Connection:
    """The session's connection (in its transaction), for Core statements on the checkout path: about
    70-110 us less CPU per statement than ``Session.execute``, which sets up an ORM execution context
    even for Core statements (measured). No autoflush: only for statements whose outcome does not
    depend on unflushed ORM changes (stock rows and the checkout's own inserts are never ORM-pending)."""
    return session.connection()


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class _DriverSQL:
    sql: str
    fixed: dict[str, object]  # the values of the statement's literals (LIMIT 1, 'reservation', ...)


@functools.lru_cache(maxsize=512)
def _driver_sql(statement: Executable, dialect: Dialect) -> _DriverSQL:
    compiled = statement.compile(dialect=dialect)
    for name, bind in compiled.binds.items():
        # the values go to psycopg as they are: refuse a statement whose values SQLAlchemy would convert
        if bind.expanding or bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
            raise ValueError(f"bind parameter {name!r} needs SQLAlchemy's processing: use Connection.execute")
    defaults = [column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
    if defaults:  # SQLAlchemy computes these per execution
        raise ValueError(f"column defaults computed in Python ({', '.join(defaults)}): set the values in the statement")
    if compiled.escaped_bind_names:
        raise ValueError(f"bind parameter names need escaping: {sorted(compiled.escaped_bind_names)}")
    return _DriverSQL(compiled.string, {name: bind.effective_value for name, bind in compiled.binds.items()
                                        if not bind.required})


def driver_rows(session: Session, statement: Executable, params: dict) -> list:
    """The rows of a Core statement run on PostgreSQL straight through psycopg, on the session's
    connection and in its transaction; each row a named tuple.

    For the checkout's two statements: SQLAlchemy's execution (cache key, parameters, result
    metadata read from ``cursor.description`` every time) costs 100-150 us of CPU per statement
    beyond psycopg's own (measured), about a sixth of a checkout's CPU in the API. The statement is
    compiled once; it may not use expanding (``IN``) parameters (bind the values one by one, as
    ``orders._order_skus_pg`` does) nor types whose values SQLAlchemy converts (JSON, booleans,
    arrays). Errors are raised as SQLAlchemy's (a lost connection: OperationalError, and the
    transaction's rollback that follows lets SQLAlchemy invalidate it and the pool's older
    connections)."""
    conn = core(session)
    driver = _driver_sql(statement, conn.dialect)
    dbapi_conn = conn.connection.driver_connection
    values = {**driver.fixed, **params}
    cursor = dbapi_conn.cursor(row_factory=namedtuple_row)
    try:
        cursor.execute(driver.sql, values)
        return cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(driver.sql, values, exc, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


def dialect_insert(session: Session, table):
    """``INSERT`` with ``ON CONFLICT`` support for the session's database (PostgreSQL or SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    module = postgresql if on_postgresql(session) else sqlite
    return module.insert(table)


def insert_rows(session: Session, *groups: Sequence[object]) -> None:
    """INSERT the rows of new mapped objects, one statement per group (one class each); empty groups
    are skipped. The objects are not added to ``session``: they are the rows as written, for the
    checkout's hot path where the unit of work's flush, or attaching them, cost more than the INSERTs
    (measured). Every column attribute must be set. On PostgreSQL checkout writes them inside its
    reservation statement instead (``insert_ctes``)."""
    shape, params = rows_to_insert(groups)
    conn = core(session)
    for statement in _insert_statements(shape):
        conn.execute(statement, params)


Shape = tuple[tuple[type, int], ...]  # (mapped class, row count) per group of rows to insert


def rows_to_insert(groups: Sequence[Sequence[object]]) -> tuple[Shape, dict]:
    """The shape of the non-empty ``groups`` and the bind parameters of their INSERTs (see ``insert_ctes``)."""
    groups = tuple(g for g in groups if g)
    params = {f"g{n}_{i}_{column}": getattr(o, attr) for n, g in enumerate(groups) for i, o in enumerate(g)
              for column, attr in _columns(type(g[0]))}
    return tuple((type(g[0]), len(g)) for g in groups), params


@functools.cache
def _columns(cls: type) -> tuple[tuple[str, str], ...]:
    """(column, attribute) of each column of a mapped class."""
    return tuple((attr.columns[0].key, attr.key) for attr in inspect(cls).column_attrs)


@functools.lru_cache(maxsize=256)
def _insert_statements(shape: Shape) -> tuple[Insert, ...]:
    """One INSERT per group, with bind parameters ``g<group>_<row>_<column>``; built once per shape
    (building one costs more than running it)."""
    statements = []
    for n, (cls, count) in enumerate(shape):
        table = inspect(cls).local_table
        columns = [column for column, _ in _columns(cls)]
        # INSERT ... SELECT <row> UNION ALL SELECT <row>: unlike a multi-row VALUES, SQLAlchemy caches its
        # compiled form
        rows = union_all(*[select(*[bindparam(f"g{n}_{i}_{column}", type_=table.c[column].type) for column in columns])
                           for i in range(count)])
        statements.append(insert(table).from_select(columns, rows))
    return tuple(statements)


@functools.lru_cache(maxsize=256)
def insert_ctes(shape: Shape) -> tuple[CTE, ...]:
    """The INSERTs of ``shape`` as data-modifying CTEs (PostgreSQL), for a statement that writes the
    rows along with its own work: add them with ``add_cte``."""
    return tuple(statement.cte(f"g{n}") for n, statement in enumerate(_insert_statements(shape)))
