"""The dbt command the pipeline runs: ``python -m pipelines.dbt_cli <dbt arguments>``.

dbt itself, with the ``chdb`` driver registered first (``pipelines.clickhouse.register_chdb_driver``)
so that the ClickHouse target can be the embedded engine; on DuckDB or a ClickHouse server it is
plain dbt.
"""

from __future__ import annotations

import sys


def main() -> None:
    from dbt.cli.main import cli

    from pipelines.clickhouse import register_chdb_driver

    register_chdb_driver()
    cli()


if __name__ == "__main__":
    sys.exit(main())
