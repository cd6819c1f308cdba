"""The pages' queries on a ClickHouse server: one SQL text per query (DuckDB's dialect, as the
snapshot runs it), translated by sqlglot, with its ``?`` parameters bound as literals in the parsed
tree (so a value can never become SQL). The functions whose meaning differs between the engines are
written out here, each to give what DuckDB gives."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType


def _translate(node: exp.Expression) -> exp.Expression:
    """``_clickhouse_function`` on every node, children first (so a rewritten node is made of rewritten parts)."""
    for child in list(node.iter_expressions()):
        new = _translate(child)
        if new is not child:
            child.replace(new)
    return _clickhouse_function(node)


def _clickhouse_function(node: exp.Expression) -> exp.Expression:
    """DuckDB functions sqlglot leaves as they are, or maps to a ClickHouse function that means
    something else, as the ClickHouse function that gives what DuckDB gives."""
    if isinstance(node, exp.Median | exp.PercentileCont):
        # DuckDB interpolates between the exact neighbours (R7), as quantileExactInclusive does;
        # ClickHouse's own median samples
        level = exp.Literal.number(0.5) if isinstance(node, exp.Median) else node.expression
        return exp.Anonymous(this=f"quantileExactInclusive({level.sql('clickhouse')})", expressions=[node.this])
    if isinstance(node, exp.ArrayToString):
        return exp.Anonymous(this="arrayStringConcat", expressions=[node.this, node.expression])
    if isinstance(node, exp.GenerateSeries):  # DuckDB's range(n): 0 .. n-1
        end = node.args["end"] if node.args.get("is_end_exclusive") else exp.Add(this=node.args["end"],
                                                                                 expression=exp.Literal.number(1))
        return exp.Anonymous(this="range", expressions=[node.args["start"], end])
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        # list(x ORDER BY y): ClickHouse's groupArray keeps no order; sort the (x, y) pairs by y
        (key,) = node.this.expressions
        pairs = f"groupArray(({node.this.this.sql('clickhouse')}, {key.this.sql('clickhouse')}))"
        sort = "arrayReverseSort" if key.args.get("desc") else "arraySort"
        return sqlglot.parse_one(f"arrayMap(p -> p.1, {sort}(p -> p.2, {pairs}))", read="clickhouse")
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
        # list[a:b] (1-based, both ends in): arraySlice(list, a, b - a + 1)
        bounds = node.expressions[0]
        length = exp.Add(this=exp.Sub(this=bounds.expression, expression=bounds.this), expression=exp.Literal.number(1))
        return exp.Anonymous(this="arraySlice", expressions=[node.this, bounds.this, length])
    if isinstance(node, exp.Select) and node.args.get("order"):
        _order_by_aliases(node)
    return node


def _order_by_aliases(select: exp.Select) -> None:
    """An ORDER BY name is the select list's alias first in DuckDB, the column first in ClickHouse
    (run with ``prefer_column_name_to_alias``, as a WHERE must be): order by the aliased expression."""
    aliases = {e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)}
    for ordered in select.args["order"].expressions:
        column = ordered.this
        if isinstance(column, exp.Column) and not column.table and column.name in aliases:
            column.replace(aliases[column.name].copy())


@lru_cache(maxsize=1024)
def _parse(sql: str) -> exp.Expression:
    """The parsed query with its ``?`` numbered as written (``$1``, ``$2``...): sqlglot's tree does not
    keep the written order of a CTE's parameters and the main query's."""
    numbered, last = [], 0
    holes = [t for t in sqlglot.tokenize(sql, read="duckdb") if t.token_type == TokenType.PLACEHOLDER]
    for n, token in enumerate(holes, start=1):
        numbered += [sql[last:token.start], f"${n}"]
        last = token.end + 1
    return sqlglot.parse_one("".join(numbered) + sql[last:], read="duckdb")


def to_clickhouse(sql: str, params: Sequence[object] = ()) -> str:
    """``sql`` (DuckDB's dialect, ``?`` parameters) as one ClickHouse statement with ``params`` in it."""
    tree = _parse(sql).copy()
    holes = list(tree.find_all(exp.Placeholder))
    if len(holes) != len(params):
        raise ValueError(f"the query has {len(holes)} parameters, {len(params)} given")
    for hole in holes:
        hole.replace(exp.convert(params[int(hole.name) - 1]))
    return _translate(tree).sql(dialect="clickhouse")
