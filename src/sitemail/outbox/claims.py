"""All of the worker's SQL: claim due rows with a lease, record outcomes in bulk, release and
renew leases, take back the leases of dead local workers. The worker holds no SQL.

Every call runs on one dedicated thread with its own Django connection (`Claims` owns it), so
the worker never competes with request handlers for the thread-sensitive executor.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from django.db import connection, transaction

from sitemail.deliverability import hooks as after_delivery
from sitemail.outbox.models import QUEUED_SQL, OutboxMessage, Status

T = TypeVar("T")
Clock = Callable[[], datetime]

TABLE = OutboxMessage._meta.db_table
# SQLite's default limit on bound variables is 32766 since 3.32; stay far below any limit.
_IN_CHUNK = 500
# `lease_owner = us AND status = queued`: if our lease ran out and another worker took the
# row, or an admin cancelled it meanwhile, their update stands.
_GUARD = "lease_owner = %s AND status = %s"
_SENT_SET = (
    "status = %s, attempts = attempts + 1, last_attempt_at = %s, sent_at = %s, "
    # Secrets (reset links) leave the table with delivery.
    "data = COALESCE(redacted_data, data), redacted_data = NULL, "
    "lease_owner = NULL, lease_until = NULL, last_step = %s, last_code = %s, last_error = %s"
)
_PARTIAL_SET = _SENT_SET + ", sent_reply = %s"
_RETRY_SET = (
    "attempts = attempts + 1, last_attempt_at = %s, next_attempt_at = %s, lease_owner = NULL, "
    "lease_until = NULL, last_step = %s, last_code = %s, last_error = %s"
)
_FAILED_SET = (
    "status = %s, attempts = attempts + 1, last_attempt_at = %s, lease_owner = NULL, "
    "lease_until = NULL, last_step = %s, last_code = %s, last_error = %s"
)
# A message that was not attempted (an outage's probe refused at connect): its next try is
# scheduled and the reason shown, its attempt count stays as it was.
_UNTRIED_SET = (
    "next_attempt_at = %s, lease_owner = NULL, lease_until = NULL, last_step = %s, "
    "last_code = %s, last_error = %s"
)


@dataclass(slots=True)
class ClaimedRow:
    """What the worker needs of a row: the envelope and the bytes, no model instance."""

    id: int
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    attempts: int
    message_id: str
    created_at: datetime


# sent / retry / failed: an attempt; untried: a probe the server refused before any session
# (an outage), which spends none of the message's attempts.
Result = Literal["sent", "retry", "failed", "untried"]


@dataclass(slots=True)
class Outcome:
    """One attempt's result, recorded in bulk with the rest of its batch."""

    row_id: int
    result: Result
    at: datetime
    step: str = ""
    code: int | None = None
    error: str = ""
    next_attempt_at: datetime | None = None
    reply: str = ""  # sent: the server's reply to the end of the data (its queue id)


def _aware(value: Any) -> datetime:
    """A timestamp column from raw SQL: a datetime (PostgreSQL) or ISO text (SQLite)."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def local_owner_dead(owner: str, host: str) -> bool:
    """True if `owner` ("host:pid:random") names a process of this host that no longer runs.

    Hostnames must be unique per machine (or container) for this; a pid that is alive, even if
    reused by another program, keeps the lease until it runs out: the safe direction."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # another Worker in this process (tests, serve + worker): still alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by another user
    return False


def _close_connection() -> None:
    # A function, not `connection.close`: the proxy must resolve in the database thread.
    connection.close()


def _chunks(ids: Sequence[int]) -> Iterable[tuple[Sequence[int], str]]:
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        yield chunk, ", ".join(["%s"] * len(chunk))


class Claims:
    """The outbox table as the worker sees it, on its own database thread.

    `held` is what this worker claimed and has not recorded yet: the leases the heartbeat
    renews. async_commit: PostgreSQL only, see _tune_connection.
    """

    def __init__(
        self, owner: str, lease_seconds: float, clock: Clock, *, async_commit: bool = True
    ) -> None:
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.async_commit = async_commit
        self.vendor = connection.vendor
        self.held: set[int] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._tuned: object = None

    # ------------------------------------------------------------------ async side

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the database thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def exchange(self, outcomes: list[Outcome], limit: int) -> list[ClaimedRow]:
        """Record `outcomes` and claim up to `limit` due rows (none for 0), in one transaction."""
        rows = await self.call(self._exchange_sync, outcomes, limit)
        self.held.difference_update(o.row_id for o in outcomes)
        self.held.update(r.id for r in rows)
        return rows

    async def release(self, rows: Iterable[ClaimedRow]) -> None:
        """Give claimed rows back untouched (not started): due again at once for anyone."""
        ids = [r.id for r in rows]
        await self.call(self._release_sync, ids)
        self.held.difference_update(ids)

    async def renew(self) -> None:
        """Extend the leases of every row held."""
        if self.held:
            await self.call(self._renew_sync, list(self.held))

    async def recover_local(self) -> int:
        """Release leases of dead workers on this host; how many rows were released."""
        return await self.call(self._recover_local_sync)

    async def has_queued(self) -> bool:
        return await self.call(self._has_queued_sync)

    async def reset(self) -> None:
        """Close the thread's connection (after a failed cycle; the next call reconnects)."""
        await self.call(_close_connection)

    async def aclose(self) -> None:
        """Close the database connection and the thread."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, _close_connection)
            executor.shutdown(wait=False)

    # ------------------------------------------------------------------ database thread

    def _tune_connection(self) -> None:
        """Per database connection of this thread: PostgreSQL commits without waiting for the
        WAL flush. Delivery is at least once already: a crash of the database server could
        lose the last few hundred milliseconds of recorded outcomes, and those messages are
        sent again, which a lease expiry can do anyway. It trades that for ~3x throughput on
        disks where fsync is slow (measured: ~18 ms -> ~6 ms per 100-row claim)."""
        if self.vendor != "postgresql" or not self.async_commit:
            return
        connection.ensure_connection()
        raw = connection.connection
        if raw is not self._tuned:
            with connection.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
            self._tuned = raw

    def _dt(self, value: datetime) -> Any:
        return connection.ops.adapt_datetimefield_value(value)

    def _exchange_sync(self, outcomes: Sequence[Outcome], limit: int) -> list[ClaimedRow]:
        self._tune_connection()
        with transaction.atomic():
            if outcomes:
                self._record_sync(outcomes)
            return self._claim_sync(limit) if limit else []

    def _has_queued_sync(self) -> bool:
        with connection.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {TABLE} WHERE status = %s LIMIT 1", [Status.QUEUED.value])  # noqa: S608
            return cur.fetchone() is not None

    def _claim_sync(self, limit: int) -> list[ClaimedRow]:
        now = self.clock()
        sql = claim_sql(self.vendor)
        until = self._dt(now + timedelta(seconds=self.lease_seconds))
        params = [self.owner, until, self._dt(now), self._dt(now), limit]
        with connection.cursor() as cur:
            fetched = _server_bound(cur, self.vendor, sql, params, fetch=True)
        return [
            ClaimedRow(
                id=r[0],
                mail_from=r[1],
                rcpt_tos=json.loads(r[2]),
                data=bytes(r[3]),
                attempts=r[4],
                message_id=r[5],
                created_at=_aware(r[6]),
            )
            for r in fetched
        ]

    def _record_sync(self, outcomes: Sequence[Outcome]) -> None:
        guard = [self.owner, Status.QUEUED.value]
        sent = Status.SENT.value
        clean = [o for o in outcomes if o.result == "sent" and not o.error]
        with transaction.atomic(savepoint=False), connection.cursor() as cur:
            _checkpoint_if_secrets(cur, [o.row_id for o in outcomes if o.result == "sent"])
            # The common case, one statement per chunk: every clean send of the batch shares
            # its values but the id and the server's reply, joined from a list of both
            # (timestamps differ by the batch's duration at most; see sent_sql).
            for start in range(0, len(clean), _IN_CHUNK):
                chunk = clean[start : start + _IN_CHUNK]
                at = self._dt(max(o.at for o in chunk))
                _server_bound(
                    cur,
                    self.vendor,
                    sent_sql(len(chunk), self.vendor),
                    [sent, at, at, "", None, "", *_sent_rows(chunk, self.vendor), *guard],
                )
            by_kind: dict[str, list[list[Any]]] = {}
            for o in outcomes:
                if o.result == "sent" and not o.error:
                    continue
                at, last = self._dt(o.at), [o.step, o.code, o.error, o.row_id, *guard]
                if o.result == "sent":  # partial: some recipients refused
                    last.insert(3, o.reply)
                    by_kind.setdefault(_PARTIAL_SET, []).append([sent, at, at, *last])
                elif o.result == "retry":
                    then = self._dt(o.next_attempt_at or o.at)
                    by_kind.setdefault(_RETRY_SET, []).append([at, then, *last])
                elif o.result == "failed":
                    by_kind.setdefault(_FAILED_SET, []).append([Status.FAILED.value, at, *last])
                else:
                    then = self._dt(o.next_attempt_at or o.at)
                    by_kind.setdefault(_UNTRIED_SET, []).append([then, *last])
            for assignments, params in by_kind.items():
                cur.executemany(
                    f"UPDATE {TABLE} SET {assignments} WHERE id = %s AND {_GUARD}",  # noqa: S608
                    params,
                )
        if len(clean) < len(outcomes):  # bounces at RCPT, deferrals (never for clean sends)
            after_delivery.after_attempts(outcomes)

    def _release_sync(self, ids: Sequence[int]) -> None:
        self._tune_connection()
        with connection.cursor() as cur:
            for chunk, marks in _chunks(ids):
                cur.execute(
                    f"UPDATE {TABLE} SET lease_owner = NULL, lease_until = NULL "  # noqa: S608
                    f"WHERE id IN ({marks}) AND lease_owner = %s",
                    [*chunk, self.owner],
                )

    def _recover_local_sync(self) -> int:
        host = self.owner.split(":", 1)[0]
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT DISTINCT lease_owner FROM {TABLE} "  # noqa: S608
                "WHERE status = %s AND lease_owner LIKE %s",
                [Status.QUEUED.value, host + ":%"],
            )
            owners = [r[0] for r in cur.fetchall()]
        dead = [o for o in owners if o != self.owner and local_owner_dead(o, host)]
        released = 0
        with connection.cursor() as cur:
            for owner in dead:
                cur.execute(
                    f"UPDATE {TABLE} SET lease_owner = NULL, lease_until = NULL "  # noqa: S608
                    "WHERE lease_owner = %s AND status = %s",
                    [owner, Status.QUEUED.value],
                )
                released += cur.rowcount
        return released

    def _renew_sync(self, ids: Sequence[int]) -> None:
        self._tune_connection()
        until = self._dt(self.clock() + timedelta(seconds=self.lease_seconds))
        with connection.cursor() as cur:
            for chunk, marks in _chunks(ids):
                cur.execute(
                    f"UPDATE {TABLE} SET lease_until = %s "  # noqa: S608
                    f"WHERE id IN ({marks}) AND lease_owner = %s",
                    [until, *chunk, self.owner],
                )


def _server_bound(
    cur: Any, vendor: str, sql: str, params: Sequence[Any], *, fetch: bool = False
) -> list[Any]:
    """Run one of the hot path's statements (the claim, the clean sends' record); its rows if
    `fetch`.

    PostgreSQL: bound server-side, in binary, on a psycopg cursor of Django's connection.
    Django's own cursors bind client-side: every claim's bytea came back as hex text (twice
    the bytes to encode, send and decode; claims took 25% less time in binary), and every
    record's list of 100 (id, reply) pairs was quoted into the statement in Python and parsed
    again by the server (drain: ~5% less CPU per message). Not prepared: Django leaves prepared
    statements off for connection poolers, and so does this."""
    if vendor != "postgresql":
        cur.execute(sql, params)
        return list(cur.fetchall()) if fetch else []
    import psycopg  # here: SQLite deployments never load it

    with connection.wrap_database_errors, psycopg.Cursor(cur.cursor.connection) as raw:
        raw.execute(sql, params, binary=True)
        return raw.fetchall() if fetch else []


def claim_sql(vendor: str) -> str:
    """The claim: lease up to a limit of due rows, oldest due first, and return what sending
    needs (params: owner, lease until, now, now, limit).

    The status is written literally: outbox_due is partial, and SQLite uses a partial index
    only for a query that states its condition. PostgreSQL: SKIP LOCKED lets concurrent
    workers claim disjoint rows without waiting; SQLite's statement holds the database's
    single write lock, so claims serialize."""
    pg = vendor == "postgresql"
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
    # SQLite, without statistics, would rather read outbox_status (status = 'queued') and sort
    # the whole backlog by due time for every claim.
    hint = "" if pg else " INDEXED BY outbox_due"
    return (
        f"UPDATE {TABLE} SET lease_owner = %s, lease_until = %s "  # noqa: S608
        f"WHERE id IN (SELECT id FROM {TABLE}{hint} WHERE {QUEUED_SQL} AND next_attempt_at <= %s "
        "AND (lease_until IS NULL OR lease_until < %s) "
        f"ORDER BY next_attempt_at LIMIT %s{lock}) "
        # rcpt_tos as text: json.loads takes a third of the time of psycopg's jsonb loader.
        "RETURNING id, mail_from, CAST(rcpt_tos AS text), data, attempts, message_id, created_at"
    )


def sent_sql(rows: int, vendor: str) -> str:
    """The clean sends' UPDATE for `rows` (id, reply) pairs (params: _sent_rows).

    PostgreSQL: joined from one JSON parameter (json_to_recordset) whatever the batch: the
    database parses one literal, not 2 x rows (drain: ~3 us less database CPU per message
    than the VALUES list), and json.dumps builds it in C, where psycopg dumped two arrays
    element by element in Python (~1.5 us of worker CPU per message). SQLite (UPDATE ...
    FROM: 3.33+): joined from a VALUES list (json_each measured no faster there), whose
    columns are named column1, column2; the first row's casts type them.

    SQLite keeps no statistics here, and for most list sizes its planner would walk an index
    of status for status = 'queued' (every queued row, per chunk) and probe the list, rather
    than look each id up: the unary + takes the guard's terms out of index use, so the ids drive
    (tests/outbox/test_sent_reply.py checks the plan)."""
    if vendor == "postgresql":
        return (
            f"UPDATE {TABLE} SET {_SENT_SET}, sent_reply = v.reply "  # noqa: S608
            "FROM json_to_recordset(%s::json) AS v (id bigint, reply text) "
            f"WHERE {TABLE}.id = v.id AND {_GUARD}"
        )
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS text))", *["(%s, %s)"] * (rows - 1)])
    guard = "+lease_owner = %s AND +status = %s" if vendor == "sqlite" else _GUARD
    return (
        f"UPDATE {TABLE} SET {_SENT_SET}, sent_reply = v.column2 "  # noqa: S608
        f"FROM (VALUES {values}) AS v WHERE {TABLE}.id = v.column1 AND {guard}"
    )


def _sent_rows(outcomes: Sequence[Outcome], vendor: str) -> list[Any]:
    """sent_sql's (id, reply) parameters: a JSON list on PostgreSQL, else pairs in a row."""
    if vendor == "postgresql":
        # ensure_ascii=False: a \u escape above 007F is an error on a database whose encoding
        # is not UTF8; raw characters convert like any text parameter's (as the arrays did).
        pairs = [{"id": o.row_id, "reply": o.reply} for o in outcomes]
        return [json.dumps(pairs, ensure_ascii=False)]
    flat: list[Any] = []
    for o in outcomes:
        flat += (o.row_id, o.reply)
    return flat


def _checkpoint_if_secrets(cur: Any, sent_ids: Sequence[int]) -> None:
    """SECURITY (SQLite): once rows that held secrets (reset links) are recorded sent, the
    write-ahead log still holds the pages with them: copy it into the database (where
    secure_delete overwrote them) and truncate it, after the recording commits. Best effort:
    a reader holding an old snapshot makes SQLite skip the truncation this time."""
    if connection.vendor != "sqlite" or not sent_ids:
        return
    for chunk, marks in _chunks(sent_ids):
        cur.execute(
            f"SELECT 1 FROM {TABLE} WHERE id IN ({marks}) AND redacted_data IS NOT NULL",  # noqa: S608
            list(chunk),
        )
        if cur.fetchone() is not None:
            transaction.on_commit(_wal_checkpoint)
            return


def _wal_checkpoint() -> None:
    with connection.cursor() as cur:
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
