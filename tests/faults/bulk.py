"""Many outbox rows fast, straight in a child's database (its SQLite file or DATABASE_URL):
copies of rows made by the product's enqueue, each with its own Message-ID, and counts."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

TABLE = "outbox_message"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


@contextmanager
def _connect(env: dict[str, str]) -> Iterator[tuple[Any, str]]:
    """(DB-API connection, parameter mark) for the child's database; committed on success."""
    url = env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            yield conn, "%s"
        return
    path = Path(env["SITEMAIL_DATA_DIR"]) / "sitemail.sqlite3"
    with closing(sqlite3.connect(path, timeout=20)) as conn:
        yield conn, "?"
        conn.commit()


def _columns(conn: Any, postgres: bool) -> list[str]:
    if postgres:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
            [TABLE],
        ).fetchall()
    else:
        rows = [(r[1],) for r in conn.execute(f"PRAGMA table_info({TABLE})").fetchall()]
    return [r[0] for r in rows]


def copy_rows(env: dict[str, str], total: int) -> int:
    """Copy the queued rows (doubling) until there are `total`; returns the row count.

    Each copy gets a new Message-ID, in its column and in the bytes that are sent (also the
    redacted copy), so the server can count deliveries per message."""
    postgres = bool(env.get("DATABASE_URL"))
    with _connect(env) as (conn, mark):
        cols = [
            c
            for c in _columns(conn, postgres)
            if c not in ("id", "message_id", "data", "redacted_data")
        ]
        # bytea/BLOB -> text, swap the id, -> bytes again (the messages are UTF-8).
        if postgres:
            swap = "convert_to(replace(convert_from({0}, 'UTF8'), message_id, {1}), 'UTF8')"
        else:
            swap = "CAST(replace(CAST({0} AS TEXT), message_id, {1}) AS BLOB)"
        have = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]  # noqa: S608
        copy = 0
        while have < total:
            copy += 1
            new_id = f"'<c{copy}.' || substr(message_id, 2)"  # <c1.hex@host>
            take = min(have, total - have)
            conn.execute(
                f"INSERT INTO {TABLE} ({', '.join(cols)}, message_id, data, redacted_data) "  # noqa: S608
                f"SELECT {', '.join(cols)}, {new_id}, {swap.format('data', new_id)}, "
                f"{swap.format('redacted_data', new_id)} FROM {TABLE} "
                f"WHERE id IN (SELECT id FROM {TABLE} ORDER BY id LIMIT {mark})",
                [take],
            )
            have += take
        conn.commit()
        if postgres:
            conn.execute(f"ANALYZE {TABLE}")
        return int(have)


def status_counts(env: dict[str, str]) -> Counter[str]:
    with _connect(env) as (conn, _):
        rows = conn.execute(f"SELECT status, count(*) FROM {TABLE} GROUP BY status").fetchall()  # noqa: S608
    return Counter({status: n for status, n in rows})


def row_facts(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Message-ID -> (status, attempts) for every row."""
    with _connect(env) as (conn, _):
        rows = conn.execute(f"SELECT message_id, status, attempts FROM {TABLE}").fetchall()  # noqa: S608
    return {mid: (status, attempts) for mid, status, attempts in rows}


def message_ids(datas: Iterable[bytes]) -> Counter[str]:
    """Message-ID header -> copies, from raw messages (a regex: 20,000 parses are slow)."""
    found: Counter[str] = Counter()
    for data in datas:
        match = _MESSAGE_ID.search(data)  # the first one is the header: headers come first
        found[match.group(1).decode() if match else ""] += 1
    return found
