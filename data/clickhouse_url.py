"""``CLICKHOUSE_URL``: which ClickHouse the warehouse is, and a client for it (clickhouse-connect).

- ``chdb:///abs/path``: the embedded engine (chdb, in this process; one data path per process);
- ``http(s)://user:password@host:port/database?cluster=name``: a server or a cluster.

Here rather than in ``pipelines`` because the dashboards read a ClickHouse server's marts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

# Standard SQL where ClickHouse's defaults differ: an outer join's missing side is NULL (not 0 or ''),
# a cast keeps NULL, an aggregate over no rows is NULL (not 0), a name in WHERE is the column's (not a
# select alias of the same name). dbt's profile sets the same (dbt/profiles.yml).
STANDARD_SQL = {"join_use_nulls": 1, "cast_keep_nullable": 1, "aggregate_functions_null_for_empty": 1,
                "prefer_column_name_to_alias": 1}


@dataclass(frozen=True)
class ClickHouseUrl:
    """``CLICKHOUSE_URL`` parsed: ``path`` for the embedded engine, else a server."""

    path: Path | None = None
    host: str = "localhost"
    port: int = 8123
    user: str = "default"
    password: str = ""
    database: str = "default"
    secure: bool = False
    cluster: str | None = None

    @classmethod
    def parse(cls, url: str) -> ClickHouseUrl:
        u = urlparse(url)
        query = parse_qs(u.query)
        cluster = query.get("cluster", [None])[0]
        if u.scheme == "chdb":
            if not u.path.startswith("/") or u.netloc:
                raise ValueError(f"CLICKHOUSE_URL {url!r}: the embedded engine needs an absolute path, chdb:///abs/path")
            return cls(path=Path(u.path), cluster=cluster)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"CLICKHOUSE_URL {url!r}: use chdb:///abs/path, http://... or https://...")
        secure = u.scheme == "https"
        return cls(host=u.hostname or "localhost", port=u.port or (8443 if secure else 8123),
                   user=unquote(u.username or "default"), password=unquote(u.password or ""),
                   database=u.path.strip("/") or "default", secure=secure, cluster=cluster)

    def client(self, settings: dict[str, Any] | None = None) -> Client:
        """A new client; ``settings`` apply to every query it sends (``STANDARD_SQL``, say)."""
        if self.path is not None:
            return clickhouse_connect.get_client(dsn=f"chdb://{self.path}", settings=settings)
        return clickhouse_connect.get_client(host=self.host, port=self.port, username=self.user,
                                             password=self.password, database=self.database, secure=self.secure,
                                             settings=settings)

    def dbt_output(self, schema: str = "marts") -> dict[str, Any]:
        """The dbt-clickhouse profile output for this URL (``driver: chdb`` needs ``register_chdb_driver``)."""
        common = {"type": "clickhouse", "schema": schema, "user": self.user, "password": self.password}
        if self.cluster:
            common |= {"cluster": self.cluster, "cluster_mode": True}
        if self.path is not None:
            return {**common, "driver": "chdb", "host": str(self.path), "port": 0}
        return {**common, "driver": "http", "host": self.host, "port": self.port, "secure": self.secure}
