"""transactions.Once: once per transaction, again after anything of it rolled back."""

from __future__ import annotations

import pytest
from django.db import transaction

from sitemail.transactions import Once, token

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def test_once_per_transaction_and_always_outside_one() -> None:
    once = Once()
    assert token() is None
    assert once.first() and once.first()  # autocommit: every call is its own transaction
    with transaction.atomic():
        assert once.first()
        assert not once.first()
        with transaction.atomic():  # a savepoint that commits keeps what was done
            assert not once.first()
        assert not once.first()
    with transaction.atomic():  # the next transaction
        assert once.first()
        assert not once.first()


def test_again_after_a_savepoint_or_the_transaction_rolls_back() -> None:
    once = Once()
    with transaction.atomic():
        with pytest.raises(Boom), transaction.atomic():
            assert once.first()
            raise Boom
        assert once.first()  # what the savepoint did is gone
        assert not once.first()
    with pytest.raises(Boom), transaction.atomic():
        assert once.first()
        raise Boom
    with transaction.atomic():
        assert once.first()


def test_undo_allows_it_again() -> None:
    once = Once()
    with transaction.atomic():
        assert once.first()
        once.undo()
        assert once.first()
        assert not once.first()
