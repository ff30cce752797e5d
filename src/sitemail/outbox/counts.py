"""Outbox totals by (kind, status), kept by the database on every write, so /metrics reads a
few rows instead of counting a table of millions.

Triggers on outbox_message keep them, so every writer is counted (the worker's claims.py,
enqueue, the email log's retry and cancel, retention, a bulk `.update()`, a migration) and no
code path can forget to; the rule lives once, here.

- SQLite (one writer at a time): row triggers add to `outbox_count` directly.
- PostgreSQL: one statement trigger per INSERT/UPDATE/DELETE appends the statement's net
  change, grouped by (kind, status), to `outbox_count_delta`, from the transition tables: a
  chunk of 100 records is one small insert, and inserts never wait on each other. Adding to
  one total row instead would make every enqueue wait for the caller's transaction that last
  touched the same (kind, status), and the worker behind it. `fold()` moves the deltas into
  `outbox_count` (the worker every FOLD_EVERY seconds, and each /metrics scrape); readers sum
  both tables in one statement, so a total is exact whether or not it was folded.

`retries` is the sum of attempts after the first (max(attempts - 1, 0)) per (kind, status).
A migration that rebuilds outbox_message on SQLite drops its triggers: `ensure()` runs after
every `migrate` and puts them back, counting the table again when they were missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection as default_connection
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "outbox_message"
FOLD_EVERY = 30.0  # seconds between the worker's folds on PostgreSQL
_FOLD_LOCK = 0x5173_0C07  # pg_try_advisory_xact_lock key: one folder at a time
_TRIGGERS = ("outbox_count_insert", "outbox_count_update", "outbox_count_delete")

_RETRIES = "CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION outbox_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO outbox_count_delta (kind, status, messages, retries)
        SELECT kind, status, count(*), sum({_RETRIES}) FROM new_rows GROUP BY kind, status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO outbox_count_delta (kind, status, messages, retries)
        SELECT kind, status, -count(*), -sum({_RETRIES}) FROM old_rows GROUP BY kind, status;
    ELSE
        INSERT INTO outbox_count_delta (kind, status, messages, retries)
        SELECT kind, status, sum(m), sum(r) FROM (
            SELECT kind, status, 1 AS m, {_RETRIES} AS r FROM new_rows
            UNION ALL
            SELECT kind, status, -1, -({_RETRIES}) FROM old_rows
        ) AS d GROUP BY kind, status HAVING sum(m) <> 0 OR sum(r) <> 0;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION outbox_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM outbox_count;
    DELETE FROM outbox_count_delta;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER outbox_count_insert AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox_count_change();
CREATE OR REPLACE TRIGGER outbox_count_update AFTER UPDATE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_count_change();
CREATE OR REPLACE TRIGGER outbox_count_delete AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox_count_change();
CREATE OR REPLACE TRIGGER outbox_count_truncate AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_count_truncate();
"""  # noqa: S608 (constants only)

# The minus side is an UPDATE, never an insert: a DELETE of both tables in either order (a
# test database being flushed) leaves no negative totals behind.
_SQLITE_ADD = """
    INSERT INTO outbox_count (kind, status, messages, retries)
    VALUES (NEW.kind, NEW.status, 1, max(NEW.attempts - 1, 0))
    ON CONFLICT (kind, status) DO UPDATE SET messages = messages + 1,
        retries = retries + excluded.retries;"""
_SQLITE_REMOVE = """
    UPDATE outbox_count SET messages = messages - 1, retries = retries - max(OLD.attempts - 1, 0)
    WHERE kind = OLD.kind AND status = OLD.status;"""
_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS outbox_count_insert AFTER INSERT ON {TABLE} "
    f"BEGIN {_SQLITE_ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS outbox_count_update AFTER UPDATE OF kind, status, attempts "
    f"ON {TABLE} WHEN OLD.kind IS NOT NEW.kind OR OLD.status IS NOT NEW.status "
    f"OR OLD.attempts IS NOT NEW.attempts BEGIN {_SQLITE_REMOVE} {_SQLITE_ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS outbox_count_delete AFTER DELETE ON {TABLE} "
    f"BEGIN {_SQLITE_REMOVE} END",
]


@dataclass(frozen=True)
class Count:
    kind: str
    status: str
    messages: int
    retries: int


def _installed(conn: BaseDatabaseWrapper) -> bool:
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = ANY(%s)",
                [TABLE, list(_TRIGGERS)],
            )
        else:
            marks = ", ".join(["%s"] * len(_TRIGGERS))
            cur.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "  # noqa: S608
                f"AND tbl_name = %s AND name IN ({marks})",
                [TABLE, *_TRIGGERS],
            )
        (n,) = cur.fetchone()
    return int(n) == len(_TRIGGERS)


def install(conn: BaseDatabaseWrapper) -> None:
    """Create the triggers (again) and count the table from scratch, in one transaction.

    On PostgreSQL CREATE TRIGGER locks out writers until the count commits, so no change
    falls between the two."""
    with transaction.atomic(using=conn.alias), conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(_PG_FUNCTION)
        else:
            for sql in _SQLITE_TRIGGERS:
                cur.execute(sql)
        cur.execute("DELETE FROM outbox_count_delta")
        cur.execute("DELETE FROM outbox_count")
        cur.execute(
            "INSERT INTO outbox_count (kind, status, messages, retries) "  # noqa: S608
            f"SELECT kind, status, count(*), coalesce(sum({_RETRIES}), 0) "
            f"FROM {TABLE} GROUP BY kind, status"
        )


def uninstall(conn: BaseDatabaseWrapper) -> None:
    with conn.cursor() as cur:
        if conn.vendor != "postgresql":
            for name in _TRIGGERS:
                cur.execute(f"DROP TRIGGER IF EXISTS {name}")
            return
        for name in (*_TRIGGERS, "outbox_count_truncate"):
            cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
        cur.execute("DROP FUNCTION IF EXISTS outbox_count_change(), outbox_count_truncate()")


def ensure(conn: BaseDatabaseWrapper | None = None) -> bool:
    """After `migrate`: put the triggers back if a table rebuild dropped them; True if it did."""
    conn = conn or default_connection
    if "outbox_count" not in conn.introspection.table_names() or _installed(conn):
        return False  # not migrated that far yet, or nothing to do
    install(conn)
    return True


def fold(conn: BaseDatabaseWrapper | None = None) -> None:
    """PostgreSQL: move the deltas into the totals (a no-op elsewhere, or while another
    process folds)."""
    conn = conn or default_connection
    if conn.vendor != "postgresql":
        return
    with transaction.atomic(using=conn.alias), conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_FOLD_LOCK])
        if not cur.fetchone()[0]:
            return
        cur.execute(
            "WITH moved AS (DELETE FROM outbox_count_delta RETURNING kind, status, messages, "
            "retries) INSERT INTO outbox_count (kind, status, messages, retries) "
            "SELECT kind, status, sum(messages), sum(retries) FROM moved GROUP BY kind, status "
            "ON CONFLICT (kind, status) DO UPDATE SET "
            "messages = outbox_count.messages + excluded.messages, "
            "retries = outbox_count.retries + excluded.retries"
        )


def totals(conn: BaseDatabaseWrapper | None = None) -> list[Count]:
    """Every (kind, status) with messages, exact: folded totals plus pending deltas."""
    conn = conn or default_connection
    with conn.cursor() as cur:
        cur.execute(
            "SELECT kind, status, sum(messages), sum(retries) FROM ("
            "SELECT kind, status, messages, retries FROM outbox_count UNION ALL "
            "SELECT kind, status, messages, retries FROM outbox_count_delta) AS c "
            "GROUP BY kind, status ORDER BY kind, status"
        )
        rows = cur.fetchall()
    return [Count(k, s, int(m), int(r)) for k, s, m, r in rows if m or r]
