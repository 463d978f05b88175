"""BigQuery SQL on DuckDB, through sqlglot (the BigQuery adapter sends statements as written)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import sqlglot
from sqlglot import exp

from . import Array, Param

# A longer list is sent as one list value and joined (`x IN (SELECT UNNEST($p))`): planning a
# thousand-item IN-list costs more than the query (18 ms vs 5 ms for 1,000 keys), while for
# a few items the IN-list prunes better.
IN_LIST_MAX = 32


def _param_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Parameter):
        return node.this.name if isinstance(node.this, exp.Expression) else str(node.this)
    return None


@lru_cache(maxsize=512)
def to_duckdb(sql: str, list_lengths: tuple[tuple[str, int], ...] = ()) -> str:
    """Transpile BigQuery SQL to DuckDB; `x IN UNNEST(@p)` becomes `x IN ($p__0, $p__1, ...)`,
    or `x IN (SELECT UNNEST($p))` for a list longer than IN_LIST_MAX (`list_lengths` -1).

    sqlglot renders `IN UNNEST(...)` as a CASE over ARRAY_CONTAINS, which hides the filter
    from DuckDB's zone maps (about 20x slower on a sorted table); a plain IN-list prunes.
    """
    lengths = dict(list_lengths)
    tree = sqlglot.parse_one(sql, read="bigquery")
    for node in list(tree.find_all(exp.In)):
        unnest = node.args.get("unnest")
        name = _param_name(unnest.expressions[0]) if unnest and unnest.expressions else None
        if name is None or name not in lengths:
            continue
        n = lengths[name]
        if n < 0:
            select = exp.select(exp.Unnest(expressions=[exp.Parameter(this=exp.var(name))]))
            node.set("unnest", None)
            node.set("query", exp.Subquery(this=select))
            continue
        items = [exp.Parameter(this=exp.var(f"{name}__{i}")) for i in range(n)]
        if not items:  # `x IN ()` is invalid SQL; an empty list matches nothing
            node.replace(exp.false())
            continue
        node.set("unnest", None)
        node.set("expressions", items)
    return tree.sql(dialect="duckdb")


def duckdb_call(sql: str, params: Mapping[str, Param] | None) -> tuple[str, dict[str, object]]:
    """The DuckDB statement and parameters for a BigQuery-dialect query."""
    params = dict(params or {})
    for name, value in params.items():
        if isinstance(value, list | tuple):  # the same rule as BigQuery's: lists are typed
            raise TypeError(f"list parameter @{name} has no element type: pass ints() or strings()")
    lists = {k: v.values for k, v in params.items() if isinstance(v, Array)}
    flat: dict[str, object] = {k: v for k, v in params.items() if k not in lists}
    for name, values in lists.items():
        if len(values) > IN_LIST_MAX:
            flat[name] = list(values)
        else:
            flat.update({f"{name}__{i}": v for i, v in enumerate(values)})
    lengths = tuple(sorted((k, -1 if len(v) > IN_LIST_MAX else len(v)) for k, v in lists.items()))
    return to_duckdb(sql, lengths), flat
