"""Benchmark roles run in child processes (own Django setup, own CPU accounting).

`python -m bench.child ROLE JSON_ARGS`; prints one JSON line with the result. The database is
chosen by the environment (SITEMAIL_DATA_DIR for SQLite, DATABASE_URL for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import smtplib
import sys
import time
from email.message import EmailMessage
from typing import Any

# ~4 KB of message (headers + text + HTML), the size smtp-source sends with -l 4096.
PARAGRAPH = (
    "A code monitor found new results in the repositories you watch. Each result links to "
    "the commit and the matching lines; open the monitor to change what it looks for. "
)
BODY = PARAGRAPH * 8


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemail.settings")
    import django

    django.setup()


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _configure(port: int, smtp: dict[str, Any] | None = None) -> None:
    """email.smtp at the sink (no AUTH), or `smtp` as given (bench/auth.py's front)."""
    from sitemail.siteconfig import service

    service.patch(
        {
            ("externalURL",): "https://sourcegraph.example.com",
            ("email.address",): "noreply@example.com",
            ("email.smtp",): smtp
            or {
                "host": "127.0.0.1",
                "port": port,
                "authentication": "none",
                "tls": "none",
                "domain": "bench.example.com",
            },
        }
    )


def _messages(n: int, offset: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"user{offset + i}@example.com", {"subject": f"Bench {offset + i}", "body": BODY})
        for i in range(n)
    ]


def prepare(args: dict[str, Any]) -> dict[str, Any]:
    """Migrate, point email.smtp at the sink, empty the outbox, enqueue `service` messages
    through outbox.enqueue_many (timed after a warm-up: the enqueue figure), then copy rows in
    SQL up to `n`."""
    _setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from sitemail import outbox
    from sitemail.outbox.models import OutboxMessage

    call_command("migrate", verbosity=0)
    _configure(args["port"], args.get("smtp"))
    OutboxMessage.objects.all().delete()
    n, through_service = args["n"], min(args["n"], args["service"])
    batch = 500
    # Warm-up, untimed: the first emails compile templates and open the connection; the figure
    # is the steady rate of a running server.
    with transaction.atomic():
        outbox.enqueue_many("django", _messages(50, n))
    OutboxMessage.objects.all().delete()
    start, cpu0 = time.perf_counter(), _cpu()
    for i in range(0, through_service, batch):
        with transaction.atomic():
            outbox.enqueue_many("django", _messages(min(batch, through_service - i), i))
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
    table = OutboxMessage._meta.db_table
    cols = [
        f.column
        for f in OutboxMessage._meta.concrete_fields
        if f.column not in ("id", "message_id")
    ]
    have = through_service
    copy = 0
    while have < n:
        take = min(have, n - have)
        copy += 1
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {table} ({', '.join(cols)}, message_id) "  # noqa: S608
                f"SELECT {', '.join(cols)}, message_id || %s FROM {table} "
                f"WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s)",
                [f".c{copy}", take],
            )
        have += take
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"VACUUM ANALYZE {table}")
    size = len(bytes(OutboxMessage.objects.values_list("data", flat=True).first() or b""))
    return {
        "enqueued": through_service,
        "enqueue_seconds": seconds,
        "enqueue_cpu": cpu,
        "enqueue_breakdown_ms": _breakdown(min(200, through_service)),
        "rows": OutboxMessage.objects.filter(status="queued").count(),
        "message_bytes": size,
    }


def _breakdown(k: int) -> dict[str, float]:
    """Per-email milliseconds of enqueue's two pure steps, to show where its time goes."""
    from sitemail.mail.build import build
    from sitemail.mail.render import render
    from sitemail.siteconfig import service

    if not k:
        return {}
    settings = service.get_settings()
    messages = _messages(k)
    start = time.perf_counter()
    rendered = [render("django", ctx, settings) for _, ctx in messages]
    render_ms = (time.perf_counter() - start) * 1000 / k
    start = time.perf_counter()
    for (to, _), r in zip(messages, rendered, strict=True):
        build(settings, to, r)
    build_ms = (time.perf_counter() - start) * 1000 / k
    return {"render": render_ms, "build": build_ms}


def worker(args: dict[str, Any]) -> dict[str, Any]:
    """Print `ready`, wait for `go` on stdin, run a Worker until nothing is queued."""
    _setup()
    from asgiref.sync import sync_to_async
    from django.db import connection
    from django.db.models import Max

    from sitemail.outbox.models import OutboxMessage, Status
    from sitemail.outbox.worker import Worker

    def queued() -> bool:
        try:
            return OutboxMessage.objects.filter(status=Status.QUEUED).exists()
        finally:
            connection.close()

    async def main() -> dict[str, Any]:
        w = Worker(concurrency=args["concurrency"], batch_size=args["batch_size"])
        await w.prepare()  # settings and the database thread, before the clock starts
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu0 = _cpu()
        async with w:  # the production loop, until nothing is due
            await w.run_until_idle()
        cpu = _cpu() - cpu0
        assert not await asyncio.to_thread(queued), "the worker went idle with rows queued"
        last = await sync_to_async(
            lambda: OutboxMessage.objects.aggregate(m=Max("sent_at"))["m"], thread_sensitive=False
        )()
        return {
            "sent": w.stats["sent"],
            "failed": w.stats["failed"] + w.stats["retried"],
            "cpu": cpu,
            "last_sent_at": last.timestamp() if last else None,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    from sitemail.smtp import eventloop

    return eventloop.run(main())


def pybaseline(args: dict[str, Any]) -> dict[str, Any]:
    """The seed's design in Python: build an EmailMessage, connect, send, QUIT, per message."""
    port, m = args["port"], args["m"]
    start, cpu0 = time.perf_counter(), _cpu()
    for i in range(m):
        msg = EmailMessage()
        msg["From"] = "Sourcegraph <noreply@example.com>"
        msg["To"] = f"user{i}@example.com"
        msg["Subject"] = f"Bench {i}"
        msg.set_content(BODY)
        msg.add_alternative(f"<html><body><p>{BODY}</p></body></html>", subtype="html")
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example.com") as smtp:
            smtp.send_message(msg)
    return {"seconds": time.perf_counter() - start, "cpu": _cpu() - cpu0, "messages": m}


def first_delivery(args: dict[str, Any]) -> dict[str, Any]:
    """Enqueue one email per transaction, idle gaps between; commit -> sent_at latency.

    in_process: run a Worker in this process (as `sitemail serve` does); else one runs elsewhere.
    """
    _setup()
    from django.db import transaction

    from sitemail import outbox
    from sitemail.outbox.models import OutboxMessage, Status
    from sitemail.outbox.worker import Worker

    def enqueue_one(i: int) -> tuple[int, float]:
        with transaction.atomic():
            row = outbox.enqueue("django", f"first{i}@example.com", {"subject": "x", "body": BODY})
        return row.id, time.time()  # after the commit

    def sent_at(row_id: int) -> float | None:
        value = (
            OutboxMessage.objects.filter(id=row_id, status=Status.SENT)
            .values_list("sent_at", flat=True)
            .first()
        )
        return value.timestamp() if value else None

    async def main() -> list[float]:
        stop = asyncio.Event()
        task = None
        if args["in_process"]:
            w = Worker()
            task = asyncio.create_task(w.run(stop))
        latencies = []
        try:
            for i in range(args["count"] + 1):
                await asyncio.sleep(0.3)  # let the worker go idle
                row_id, committed = await asyncio.to_thread(enqueue_one, i)
                deadline = time.monotonic() + 10
                while (at := await asyncio.to_thread(sent_at, row_id)) is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("not delivered within 10 s")
                    await asyncio.sleep(0.005)
                if i:  # the first one also opens the SMTP connection: a warm-up
                    latencies.append((at - committed) * 1000)
        finally:
            stop.set()
            if task is not None:
                await task
        return latencies

    from sitemail.smtp import eventloop

    return {"latencies_ms": eventloop.run(main())}


ROLES = {
    "prepare": prepare,
    "worker": worker,
    "pybaseline": pybaseline,
    "first_delivery": first_delivery,
}

if __name__ == "__main__":
    result = ROLES[sys.argv[1]](json.loads(sys.argv[2]))
    print("RESULT " + json.dumps(result), flush=True)
