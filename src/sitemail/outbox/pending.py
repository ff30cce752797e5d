"""Rows enqueued inside a transaction, INSERTed together just before its next statement.

A request that sends many emails (one `enqueue` call each) would pay one INSERT statement per
email: on PostgreSQL a round trip and the server's per-statement work (parse, plan, the count
trigger), most of an enqueue's cost there. Instead, inside `transaction.atomic` the rows wait
on their connection and go in one multi-row INSERT (COPY on PostgreSQL) right before whatever
the connection runs next: any statement through a Django cursor (a read sees them), a
savepoint, or the COMMIT. So they still commit or roll back with the change that caused them,
and every query of the transaction sees them, exactly as if each had been inserted at once.

- ROLLBACK (or ROLLBACK TO SAVEPOINT) drops them: they were written after the last statement,
  so after the savepoint too.
- Reading a waiting row's `pk` (or `id`) inserts it first (models.PendingId).
- Outside a transaction (autocommit), and on a connection of another engine than
  sitemail.outbox.engines.*, enqueue INSERTs at once as before.
- An error of the deferred INSERT is raised by the statement (or commit) it precedes; the
  transaction is then broken, as it would have been had the INSERT failed in `enqueue`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:  # imported by the database engines, which load before the models may
    from sitemail.outbox.models import OutboxMessage

ATTRIBUTE = "outbox_pending"  # on connections of sitemail.outbox.engines.*: list | None


def defers(connection: BaseDatabaseWrapper) -> bool:
    """Whether enqueue may leave its rows to `flush` on this connection now."""
    return connection.in_atomic_block and hasattr(connection, ATTRIBUTE)


def add(connection: BaseDatabaseWrapper, rows: Sequence[OutboxMessage]) -> None:
    """Hold `rows` (new, unsaved) until the connection's next statement; `defers()` first."""
    connection.validate_no_broken_transaction()  # as the INSERT itself would
    waiting: list[OutboxMessage] | None = getattr(connection, ATTRIBUTE)
    if waiting is None:
        waiting = []
        setattr(connection, ATTRIBUTE, waiting)
    for row in rows:
        row._state.db = connection.alias
        row.__dict__.pop("id", None)  # models.PendingId: reading it flushes
        waiting.append(row)


def flush(connection: BaseDatabaseWrapper) -> None:
    """INSERT the waiting rows now (in the current transaction)."""
    waiting: list[OutboxMessage] | None = getattr(connection, ATTRIBUTE, None)
    if not waiting:
        return
    if connection.needs_rollback:  # only a rollback can follow, and it would remove them
        discard(connection)
        return
    setattr(connection, ATTRIBUTE, None)
    from sitemail.outbox.insert import insert_many

    try:
        insert_many(waiting, using=connection.alias)
    except BaseException:
        _forget(waiting)
        raise


def discard(connection: BaseDatabaseWrapper) -> None:
    """The transaction (or the savepoint the rows were written in) rolled back."""
    waiting: list[OutboxMessage] | None = getattr(connection, ATTRIBUTE, None)
    if waiting:
        setattr(connection, ATTRIBUTE, None)
        _forget(waiting)


def _forget(rows: Sequence[OutboxMessage]) -> None:
    for row in rows:
        row.__dict__.setdefault("id", None)  # never stored: as an unsaved row


def flush_row(row: OutboxMessage) -> None:
    """A waiting row's id is asked for: flush its connection."""
    from django.db import connections

    flush(connections[row._state.db or "default"])
    row.__dict__.setdefault("id", None)  # not waiting on this thread's connection after all


def flush_first(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The connection's execute wrapper: waiting rows go in before any statement."""
    if getattr(context["connection"], ATTRIBUTE, None):
        flush(context["connection"])
    return execute(sql, params, many, context)


class DeferredInserts:
    """DatabaseWrapper mixin of sitemail.outbox.engines: the hooks around the transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        setattr(self, ATTRIBUTE, None)
        self.execute_wrappers.append(flush_first)  # type: ignore[attr-defined]

    def _commit(self) -> Any:
        try:
            flush(self)  # type: ignore[arg-type]
        except DatabaseError:
            raise
        except Exception as exc:
            # atomic() rolls back on a DatabaseError from the commit; on anything else it
            # would go back to autocommit with the transaction still open.
            raise DatabaseError(f"could not write the enqueued emails: {exc!r}") from exc
        return super()._commit()  # type: ignore[misc]

    def _rollback(self) -> Any:
        discard(self)  # type: ignore[arg-type]
        return super()._rollback()  # type: ignore[misc]

    def _savepoint_rollback(self, sid: str) -> Any:
        discard(self)  # type: ignore[arg-type]
        return super()._savepoint_rollback(sid)  # type: ignore[misc]

    def close(self) -> Any:
        discard(self)  # type: ignore[arg-type]
        return super().close()  # type: ignore[misc]
