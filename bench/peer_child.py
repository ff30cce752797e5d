"""The peers' side of `python -m bench peers`, run in child processes (own Django, own CPU).

`python -m bench.peer_child ROLE JSON_ARGS` with DJANGO_SETTINGS_MODULE=bench.peer_settings and
BENCH_PEER set; prints `RESULT {json}` like bench.child. The email is sitemail's rendered one
(bench.child message_parts: the same subject, text and HTML), handed over in BENCH_PARTS.

  prepare  migrate, empty the peer's queue, enqueue n emails through the peer's own API, one
           call per email, `per_transaction` calls per commit (timed after 50 untimed).
  drain    print `ready`, wait for `go`, send everything queued the peer's own way, report.
  celery_go  start the waiting Celery worker on the queue and wait until n tasks are done.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PEER = os.environ.get("BENCH_PEER", "django")
WARMUP = 50


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_settings")
    import django

    django.setup()


def _cpu() -> float:
    """This process and its waited-for children (post-office may fork senders)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def _parts() -> dict[str, Any]:
    return dict(json.loads(Path(os.environ["BENCH_PARTS"]).read_text()))


def _recipient(i: int) -> str:
    return f"user{i}@example.com"


def _migrate() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS bench_{PEER}")
    call_command("migrate", verbosity=0)


def _empty() -> None:
    if PEER == "postoffice":
        from post_office.models import Email, Log

        Log.objects.all().delete()
        Email.objects.all().delete()
    elif PEER == "mailer":
        from mailer.models import Message, MessageLog

        MessageLog.objects.all().delete()
        Message.objects.all().delete()


def _enqueuer(parts: dict[str, Any], queue: str) -> Callable[[str], object]:
    """The peer's own call for one email."""
    subject, text, html, sender = parts["subject"], parts["text"], parts["html"], parts["from"]
    if PEER == "postoffice":
        from post_office import mail

        return lambda to: mail.send(
            to, sender, subject=subject, message=text, html_message=html, priority="medium"
        )
    if PEER == "mailer":
        import mailer

        return lambda to: mailer.send_html_mail(subject, text, html, sender, [to])
    if PEER == "celery":
        from bench.peer_celery import send_email

        return lambda to: send_email.apply_async(
            (subject, text, html, sender, to), queue=queue, ignore_result=True
        )
    raise ValueError(f"{PEER} has no queue to enqueue into")


def prepare(args: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from django.db import connection, transaction

    n, per_tx, queue = args["n"], args.get("per_transaction", 100), args.get("queue", "")
    if PEER != "celery":
        _migrate()
        _empty()
    enqueue = _enqueuer(_parts(), queue)
    for i in range(WARMUP):  # first calls import, compile and connect: not the steady rate
        enqueue(_recipient(n + i))
    if PEER == "celery":
        import redis

        redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]).delete(queue)
    else:
        _empty()
    # Celery's enqueue is a Redis LPUSH, no database transaction around it.
    commit = contextlib.nullcontext if PEER == "celery" else transaction.atomic
    start, cpu0 = time.perf_counter(), _cpu()
    for i in range(0, n, per_tx):
        with commit():
            for k in range(i, min(n, i + per_tx)):
                enqueue(_recipient(k))
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
    if PEER != "celery" and connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")  # as sitemail's prepare does for its table
    return {"enqueued": n, "enqueue_seconds": seconds, "enqueue_cpu": cpu}


def _sent() -> int:
    if PEER == "postoffice":
        from post_office.models import STATUS, Email

        return Email.objects.filter(status=STATUS.sent).count()
    if PEER == "mailer":
        from mailer.models import RESULT_SUCCESS, Message, MessageLog

        if Message.objects.exists():
            return -1
        return MessageLog.objects.filter(result=RESULT_SUCCESS).count()
    return 0


def _send_all(n: int) -> int:
    """Everything queued, the way the peer's docs say to run it; returns how many were sent."""
    from django.core.management import call_command

    if PEER == "postoffice":
        call_command("send_queued_mail", processes=1)
    elif PEER == "mailer":
        call_command("send_mail")
    else:  # plain Django: build each message and send them all on one connection
        from django.core.mail import EmailMultiAlternatives, get_connection

        parts = _parts()
        with get_connection() as conn:
            messages = []
            for i in range(n):
                msg = EmailMultiAlternatives(
                    parts["subject"], parts["text"], parts["from"], [_recipient(i)]
                )
                msg.attach_alternative(parts["html"], "text/html")
                messages.append(msg)
            return int(conn.send_messages(messages) or 0)
    return _sent()


def drain(args: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from django.db import connection

    if PEER != "django":
        connection.ensure_connection()  # before the clock, as sitemail's worker does
    print("ready", flush=True)
    sys.stdin.readline()
    start, cpu0 = time.perf_counter(), _cpu()
    sent = _send_all(args["n"])
    return {"sent": sent, "seconds": time.perf_counter() - start, "cpu": _cpu() - cpu0}


def celery_go(args: dict[str, Any]) -> dict[str, Any]:
    """Wait for the worker, point it at the filled queue, wait for the last task."""
    import redis

    from bench.peer_celery import KEY, app

    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    node, deadline = args["node"], time.monotonic() + 60
    while not app.control.ping(destination=[node], timeout=0.5):
        if time.monotonic() > deadline:
            raise RuntimeError(f"celery worker {node} did not answer a ping within 60 s")
    print("ready", flush=True)
    sys.stdin.readline()
    go = time.time()
    app.control.add_consumer(args["queue"], destination=[node], reply=True, timeout=5)
    deadline = time.monotonic() + args.get("timeout", 900)
    while int(client.get(f"{KEY}:done") or 0) < args["n"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"celery: {client.get(f'{KEY}:done')} of {args['n']} done")
        time.sleep(0.01)
    last = float(client.get(f"{KEY}:last") or go)
    return {"sent": int(client.get(f"{KEY}:done") or 0), "seconds": last - go}


ROLES = {"prepare": prepare, "drain": drain, "celery_go": celery_go}

if __name__ == "__main__":
    result = ROLES[sys.argv[1]](json.loads(sys.argv[2]))
    print("RESULT " + json.dumps(result), flush=True)
