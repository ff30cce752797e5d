"""What lasts exactly as long as the current transaction: work done once per transaction.

Django has no hook for a rollback, but it replaces a connection's list of on_commit callbacks
with a new one at every commit, every rollback and every rollback to a savepoint (the callbacks
of the rolled-back part must not run), and nowhere else. That list is therefore a token for
"this transaction, with nothing of it rolled back": while it is the same object, whatever was
done or checked earlier in the transaction still holds. Holding the token keeps the list
alive, so a new list can never be mistaken for an old one.
"""

from __future__ import annotations

import threading

from django.db import DEFAULT_DB_ALIAS, connections


def token(using: str = DEFAULT_DB_ALIAS) -> object | None:
    """The current transaction's token, or None outside `transaction.atomic`.

    The same object until the transaction commits or rolls back or a savepoint in it rolls
    back; compare with `is`.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        return None
    callbacks: object = connection.run_on_commit
    return callbacks


class Once(threading.local):
    """`first()` is True once per transaction (per thread and database), then False until the
    transaction ends or part of it rolls back; always True outside a transaction."""

    def __init__(self) -> None:
        self.done: dict[str, object] = {}

    def first(self, using: str = DEFAULT_DB_ALIAS) -> bool:
        current = token(using)
        if current is None:
            return True
        if self.done.get(using) is current:
            return False
        self.done[using] = current
        return True

    def undo(self, using: str = DEFAULT_DB_ALIAS) -> None:
        """The work `first()` allowed did not happen (it raised): allow it again."""
        self.done.pop(using, None)
