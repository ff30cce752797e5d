"""outbox.pending: the rows of a transaction go in together, before its next statement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError

from sitemail.outbox import enqueue, insert
from sitemail.outbox.models import OutboxMessage
from tests.outbox.conftest import static_settings

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


@pytest.fixture
def inserts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many rows each INSERT (insert_many call) of the outbox carried."""
    calls: list[int] = []
    real = insert.insert_many

    def counted(rows: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(len(rows))
        real(rows, *args, **kwargs)

    monkeypatch.setattr(insert, "insert_many", counted)
    monkeypatch.setattr("sitemail.outbox.service.insert_many", counted)
    yield calls


def _send(to: str) -> OutboxMessage:
    return enqueue("test_email", to, {"test_id": "abcde"}, settings=static_settings())


def test_a_transactions_emails_go_in_one_insert_before_its_next_query(
    inserts: list[int],
) -> None:
    with transaction.atomic():
        for i in range(5):
            _send(f"u{i}@example.com")
        assert inserts == []  # nothing written yet: nothing has asked
        assert OutboxMessage.objects.count() == 5  # a read sees them all
        assert inserts == [5]
        _send("late@example.com")
    assert inserts == [5, 1]  # the commit wrote the last one
    assert OutboxMessage.objects.filter(recipient="late@example.com").exists()


def test_the_commit_writes_them(inserts: list[int]) -> None:
    with transaction.atomic():
        rows = [_send(f"u{i}@example.com") for i in range(3)]
    assert inserts == [3]
    assert sorted(OutboxMessage.objects.values_list("pk", flat=True)) == [r.pk for r in rows]


def test_reading_the_id_of_a_waiting_row_inserts_it(inserts: list[int]) -> None:
    with transaction.atomic():
        first = _send("a@example.com")
        second = _send("b@example.com")
        assert isinstance(second.pk, int)
        assert inserts == [2]
        assert first.id is not None and first.id < second.id
        assert OutboxMessage.objects.get(pk=first.pk).recipient == "a@example.com"


def test_a_rolled_back_savepoint_drops_only_its_waiting_rows(inserts: list[int]) -> None:
    with transaction.atomic():
        kept = _send("kept@example.com")
        with pytest.raises(Boom), transaction.atomic():
            dropped = _send("dropped@example.com")
            raise Boom
        assert dropped.pk is None
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == ["kept@example.com"]
    assert kept.pk is not None


def test_a_rolled_back_transaction_writes_nothing(inserts: list[int]) -> None:
    with pytest.raises(Boom), transaction.atomic():
        row = _send("a@example.com")
        raise Boom
    assert inserts == []
    assert row.pk is None
    assert not OutboxMessage.objects.exists()


def test_a_failing_deferred_insert_fails_the_commit_and_keeps_nothing() -> None:
    taken = _send("first@example.com")  # autocommit: written at once
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboxMessage.objects.filter(pk=taken.pk).update(subject="changed in the transaction")
        row = _send("second@example.com")
        row.message_id = taken.message_id  # unique: the INSERT at commit must fail
    assert row.pk is None
    assert list(OutboxMessage.objects.values_list("subject", flat=True)) != [
        "changed in the transaction"
    ]
    assert OutboxMessage.objects.count() == 1


def test_outside_a_transaction_each_email_is_written_at_once(inserts: list[int]) -> None:
    row = _send("a@example.com")
    assert inserts == [1]
    assert row.__dict__["id"] is not None


def test_enqueue_in_a_broken_transaction_raises_at_once() -> None:
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic(savepoint=False):
            _send("a@example.com")
            OutboxMessage.objects.create(message_id=OutboxMessage.objects.get().message_id)
        with pytest.raises(TransactionManagementError):
            _send("b@example.com")
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.exists()


def test_the_engines_defer_and_others_do_not() -> None:
    assert hasattr(connection, "outbox_pending")


def test_any_error_writing_them_at_commit_rolls_the_transaction_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(rows: Any, *args: Any, **kwargs: Any) -> None:
        raise ValueError("a bug")

    with transaction.atomic():
        kept = _send("kept@example.com")
    monkeypatch.setattr(insert, "insert_many", broken)
    with pytest.raises(DatabaseError, match="could not write the enqueued emails"):
        with transaction.atomic():
            OutboxMessage.objects.filter(pk=kept.pk).update(subject="changed")
            _send("lost@example.com")
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert list(OutboxMessage.objects.values_list("subject", flat=True)) != ["changed"]
    assert OutboxMessage.objects.count() == 1
