"""The SELECTs some code runs and the database's plan for each: `bench scale` records them at
1M rows, tests/admin check which index each filter reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection


@dataclass(frozen=True)
class Plan:
    sql: str  # as the database ran it, parameters filled in
    plan: list[str]  # one line per row of EXPLAIN


def explain(
    fn: Callable[[], object], *, table: str = "", analyze: bool = False, no_seqscan: bool = False
) -> list[Plan]:
    """Run `fn`, then explain each SELECT it ran (on `table`, if given) with the same parameters
    (SQLite plans a bound value differently from a literal: a partial index needs the literal).

    PostgreSQL: `analyze` runs them again for timings and buffers; `no_seqscan` prices
    sequential scans out, to see the index a query can use on a table too small to need it.
    """
    statements: list[tuple[str, Any]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        fn()
    pg = connection.vendor == "postgresql"
    prefix = (
        ("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") if pg else "EXPLAIN QUERY PLAN "
    )
    out = []
    for sql, params in statements:
        if not sql.lstrip().upper().startswith("SELECT") or table not in sql:
            continue
        with connection.cursor() as cur:
            if pg and no_seqscan:
                cur.execute("SET enable_seqscan = off")
            cur.execute(prefix + sql, params)
            lines = [" | ".join(str(c) for c in row) for row in cur.fetchall()]
            shown = connection.ops.last_executed_query(cur.cursor, sql, params)
            if pg and no_seqscan:
                cur.execute("RESET enable_seqscan")
        out.append(Plan(sql=shown, plan=lines))
    return out
