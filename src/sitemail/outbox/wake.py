"""Wake idle workers when an enqueue commits: in-process events, and PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import logging
import threading

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from sitemail.transactions import Once

log = logging.getLogger(__name__)

CHANNEL = "sitemail_outbox"

# Workers running in this process (e.g. `sitemail serve`): an enqueue commit sets their event.
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
_lock = threading.Lock()
# What enqueued() already did in the current transaction.
_notified, _hooked = Once(), Once()


def register(event: asyncio.Event) -> None:
    """Set `event` (from any thread) after each enqueue commits in this process."""
    with _lock:
        _waiters.add((asyncio.get_running_loop(), event))


def unregister(event: asyncio.Event) -> None:
    with _lock:
        _waiters.difference_update({w for w in _waiters if w[1] is event})


def _wake_local() -> None:
    with _lock:
        waiters = list(_waiters)
    for loop, event in waiters:
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # that loop has closed; its worker is gone
            unregister(event)


def enqueued(using: str = DEFAULT_DB_ALIAS) -> None:
    """Call inside the enqueuing transaction, after the INSERT.

    PostgreSQL delivers a NOTIFY at commit and drops it on rollback (and folds repeats within a
    transaction into one), so workers in other processes wake exactly when the rows are
    visible. Workers in this process are woken by an on_commit hook, which SQLite needs: it has
    no cross-process notification, and other processes fall back to polling.
    """
    # One NOTIFY and one hook per transaction: a request that enqueues many emails pays one
    # round trip, not one per email (again after a savepoint that held them rolls back).
    conn = connections[using]
    if conn.vendor == "postgresql" and _notified.first(using):
        try:
            with conn.cursor() as cur:
                cur.execute(f"NOTIFY {CHANNEL}")
        except BaseException:
            _notified.undo(using)
            raise
    if _waiters and _hooked.first(using):
        transaction.on_commit(_wake_local, using=using)


async def listen(event: asyncio.Event, using: str = DEFAULT_DB_ALIAS) -> None:
    """PostgreSQL: set `event` on each NOTIFY until cancelled; reconnects after errors.

    A dedicated autocommit connection outside Django's (LISTEN must outlive transactions).
    """
    import psycopg

    db = settings.DATABASES[using]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 10,
    }
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                autocommit=True, **{k: v for k, v in params.items() if v is not None}
            )
            async with conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                event.set()  # whatever committed while nobody listened
                async for _ in conn.notifies():
                    event.set()
        except psycopg.Error as exc:
            log.warning("outbox: LISTEN %s failed (%s); polling until it reconnects", CHANNEL, exc)
            await asyncio.sleep(5)
