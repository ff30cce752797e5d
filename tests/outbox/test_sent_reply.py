"""The server's reply to the end of the data (its queue id) is kept on the sent row: from the
worker's bulk record, a partial send, and sendTestEmail; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from sitemail.outbox import enqueue
from sitemail.outbox.claims import Claims, Outcome, _sent_rows, sent_sql
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.test_email import send_test_email
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from sitemail.smtp.base import MAX_REPLY, Transport, reply_line
from sitemail.smtp.errors import ReplyError, Step
from sitemail.smtp.memory import InMemoryTransport
from tests.outbox.conftest import message_id, run, static_settings
from tests.smtpserver import ServerFactory

pytestmark = pytest.mark.django_db(transaction=True)

Configure = Callable[..., SiteSettings]
QUEUED_AS = "250 2.0.0 Ok: queued as ABC123"


def _drain(transport: Transport, settings: SiteSettings) -> int:
    async def go() -> int:
        async with Worker(
            transport_factory=lambda cfg: transport, settings_provider=lambda: settings
        ) as worker:
            return await worker.run_until_idle()

    return run(go())


def test_a_real_servers_reply_is_stored_exactly(
    smtp_server: ServerFactory, configure_site: Configure
) -> None:
    server = smtp_server(auth=(), pipelining=True, data_reply=QUEUED_AS)
    configure_site(server.site_config())
    row = enqueue("test_email", "a@example.com", {"test_id": "00001"})

    async def go() -> int:
        async with Worker() as worker:
            return await worker.run_until_idle()

    assert run(go()) == 1
    row.refresh_from_db()
    assert (row.status, row.sent_reply, row.last_error) == (Status.SENT, QUEUED_AS, "")


def test_each_row_of_a_bulk_record_gets_its_own_reply() -> None:
    settings = static_settings()
    rows = [
        enqueue("test_email", f"u{i}@example.com", {"test_id": f"{i:05d}"}, settings=settings)
        for i in range(7)
    ]
    memory = InMemoryTransport()
    assert _drain(memory, settings) == 7
    # The memory transport answers M1, M2, ... in the order it accepted the messages.
    expected = {
        message_id(m.data): f"250 2.0.0 Ok: queued as M{n}" for n, m in enumerate(memory.sent, 1)
    }
    found = OutboxMessage.objects.filter(pk__in=[r.pk for r in rows])
    stored = {r.message_id: r.sent_reply for r in found}
    assert stored == expected
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}


def test_a_partial_send_keeps_the_reply_and_the_refusal() -> None:
    settings = static_settings()
    row = enqueue("test_email", "a@example.com", {"test_id": "00001"}, settings=settings)
    OutboxMessage.objects.filter(pk=row.pk).update(rcpt_tos=["a@example.com", "b@example.com"])
    memory = InMemoryTransport()
    memory.refuse("b@example.com", ReplyError(Step.RCPT, "no such user", code=550))
    assert _drain(memory, settings) == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.sent_reply == "250 2.0.0 Ok: queued as M1"
    assert "some recipients were refused" in row.last_error and row.last_code == 550


# A server whose reply holds bytes that are not UTF-8 (the channel keeps them as surrogates),
# a NUL, and far more text than a reply line.
HOSTILE = reply_line(
    250, (b"2.0.0 queued as \xff\xfe\x00X" + b"y" * 5000).decode("utf-8", "surrogateescape")
)


def test_a_hostile_reply_is_stored_cut_and_clean() -> None:
    settings = static_settings()
    row = enqueue("test_email", "a@example.com", {"test_id": "00001"}, settings=settings)
    assert _drain(InMemoryTransport(reply=lambda n: HOSTILE), settings) == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.sent_reply.startswith("250 2.0.0 queued as \ufffd\ufffdXyyy")
    assert len(row.sent_reply) <= MAX_REPLY and "\0" not in row.sent_reply


# What a list literal must quote: quotes, commas, braces, a backslash, a newline, and text
# that reads as NULL.
AWKWARD = ('250 ok, "queued" {as} \\ A1\nsecond line', "250 NULL", "250 it's {}")


def test_replies_that_need_quoting_are_stored_exactly() -> None:
    settings = static_settings()
    for i in range(6):
        enqueue("test_email", f"u{i}@example.com", {"test_id": f"{i:05d}"}, settings=settings)
    transport = InMemoryTransport(reply=lambda n: AWKWARD[(n - 1) % 3])
    assert _drain(transport, settings) == 6
    expected = {message_id(m.data): AWKWARD[n % 3] for n, m in enumerate(transport.sent)}
    stored = dict(OutboxMessage.objects.values_list("message_id", "sent_reply"))
    assert stored == expected


def test_send_test_email_logs_the_reply(
    smtp_server: ServerFactory, configure_site: Configure
) -> None:
    server = smtp_server(auth=(), data_reply=QUEUED_AS)
    configure_site(server.site_config())
    result = asyncio.run(send_test_email("someone@example.com"))
    assert result.startswith("Sent test email"), result
    row = OutboxMessage.objects.get(kind="test_email")
    assert (row.status, row.sent_reply) == (Status.SENT, QUEUED_AS)


@pytest.mark.parametrize("rows", [1, 4, 100, 250, 500])
def test_sqlite_looks_each_sent_id_up(rows: int) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner; PostgreSQL's follows its statistics")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = ["sent", now, now, "", None, "", *[1, "250 ok"] * rows, "owner", "queued"]
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sent_sql(rows, "sqlite"), params)
        plan = " | ".join(str(r[-1]) for r in cur.fetchall())
    assert "INTEGER PRIMARY KEY" in plan and "outbox_due" not in plan, plan


def test_postgresql_binds_the_bulk_records_list_server_side() -> None:
    """The clean sends' record goes to the server with its (id, reply) list as a parameter,
    not quoted into the statement in Python for every batch (claims._server_bound)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's parameters")
    import psycopg

    settings = static_settings()
    for i in range(3):
        enqueue("test_email", f"u{i}@example.com", {"test_id": f"{i:05d}"}, settings=settings)
    claims = Claims("test:1:bound", 60, timezone.now)
    rows = claims._exchange_sync([], 3)
    outcomes = [
        Outcome(r.id, "sent", timezone.now(), reply=f"250 M{n}") for n, r in enumerate(rows)
    ]
    with transaction.atomic():
        claims._record_sync(outcomes)
        pid = connection.connection.info.backend_pid
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        with psycopg.connect(**params) as other:
            found = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
            (last,) = found.fetchone() or ("",)
    numbered = sent_sql(3, "postgresql").split("%s")
    expected = "".join(f"{part}${n}" for n, part in enumerate(numbered[:-1], 1)) + numbered[-1]
    assert last == expected, last
    assert "250 M0" not in last, last
    replies = OutboxMessage.objects.filter(status=Status.SENT).values_list("sent_reply", flat=True)
    assert sorted(replies) == ["250 M0", "250 M1", "250 M2"]


def test_postgresql_records_a_non_ascii_reply_on_a_sql_ascii_database() -> None:
    """The record's JSON carries the reply's characters raw: a \\u escape above 007F is an
    error on a database whose encoding is not UTF8, and the whole batch would stay unrecorded."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's encodings")
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    name = f"{connection.settings_dict['NAME']}_sql_ascii"
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )
    try:
        outcome = Outcome(7, "sent", timezone.now(), reply=reply_line(250, "queued \ufffd as é"))
        (listed,) = _sent_rows([outcome], "postgresql")
        with psycopg.connect(**{**params, "dbname": name}) as other:
            found = other.execute(
                "SELECT id, reply FROM json_to_recordset(%s::json) AS v (id bigint, reply text)",
                [listed],
                binary=True,
            ).fetchall()
        # str or bytes, as the connection's client encoding has it
        stored = [(i, r if isinstance(r, str) else r.decode()) for i, r in found]
        assert stored == [(7, "250 queued \ufffd as é")], found
    finally:
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
