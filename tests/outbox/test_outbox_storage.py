"""How the outbox table stores and finds what the worker needs: the claim reads outbox_due, which
holds queued rows only, PostgreSQL compresses new bodies with lz4 (migration 0008), and one
index on message_id serves uniqueness and prefixes (0009)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from sitemail.outbox import enqueue
from sitemail.outbox.claims import claim_sql
from sitemail.outbox.models import OutboxMessage, Status
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def _no_seqscan() -> Iterator[None]:
    """PostgreSQL: a table this small is cheaper to scan; price that out to see the index."""
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cur:
        if pg:
            cur.execute("SET enable_seqscan = off")
        try:
            yield
        finally:
            if pg:
                cur.execute("RESET enable_seqscan")


def _claim_plan() -> str:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    pg = connection.vendor == "postgresql"
    with _no_seqscan(), connection.cursor() as cur:
        cur.execute(
            ("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + claim_sql(connection.vendor),
            ["owner", now, now, now, 100],
        )
        return " | ".join(str(row[-1]) for row in cur.fetchall())


def _due_predicate() -> str:
    """outbox_due's WHERE, as the database keeps it ("" for a full index)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT coalesce(pg_get_expr(indpred, indrelid), '') FROM pg_index "
                "WHERE indexrelid = 'outbox_due'::regclass"
            )
            return str(cur.fetchone()[0])
        cur.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'outbox_due'")
        sql = str(cur.fetchone()[0])
        return sql.partition(" WHERE ")[2]


def test_the_claim_reads_outbox_due() -> None:
    for i in range(20):
        enqueue("django", f"user{i}@example.com", {"subject": "s", "body": "b"})
    plan = _claim_plan()
    assert "outbox_due" in plan, plan


def test_outbox_due_holds_queued_rows_only() -> None:
    """A sent row's update writes no entry in the claim's index (status is indexed elsewhere,
    so that update is never HOT and every index on the row gets a new entry)."""
    predicate = _due_predicate()
    assert "status" in predicate and "queued" in predicate, predicate


def test_postgresql_compresses_new_bodies_with_lz4(server: TestSMTPServer) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's TOAST compression")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
        if cur.fetchone() is None:
            pytest.skip("this PostgreSQL server is built without lz4")
    # Over the ~2 KB at which PostgreSQL compresses a row, and compressible, like an email.
    body = " ".join(secrets.token_hex(4) for _ in range(300)) * 3
    row = enqueue("django", "someone@example.com", {"subject": "Compressed", "body": body})
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_column_compression(data), length(data), pg_column_size(data) "
            "FROM outbox_message WHERE id = %s",
            [row.id],
        )
        method, length, stored = cur.fetchone()
    assert method == "lz4" and stored < length, (method, length, stored)
    assert OutboxMessage.objects.get(id=row.id).status == Status.QUEUED


def _message_id_indexes() -> list[str]:
    with connection.cursor() as cur:
        found = connection.introspection.get_constraints(cur, OutboxMessage._meta.db_table)
    mine = {n: c for n, c in found.items() if c["columns"] == ["message_id"]}
    return sorted(n for n, c in mine.items() if c["index"] or c["unique"])


def test_message_id_has_one_index_that_keeps_it_unique() -> None:
    """PostgreSQL: every sent row's new version wrote an entry in two message_id indexes (the
    unique constraint's and a _like one); one serves both."""
    assert len(_message_id_indexes()) == 1, _message_id_indexes()
    enqueue("django", "a@example.com", {"subject": "s", "body": "b"})
    row = OutboxMessage.objects.get()
    copy = {f.attname: getattr(row, f.attname) for f in OutboxMessage._meta.concrete_fields}
    del copy["id"]
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboxMessage.objects.create(**copy)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's opclasses")
def test_postgresql_finds_a_message_id_prefix_through_the_unique_index() -> None:
    """VERP (deliverability.verp.message_for) looks a bounce's message up by prefix."""
    enqueue("django", "a@example.com", {"subject": "s", "body": "b"})
    with _no_seqscan():
        plan = OutboxMessage.objects.filter(message_id__startswith="<abc@").explain()
    assert "outbox_message_id" in plan and "Index" in plan, plan
