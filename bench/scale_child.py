"""The sitemail side of `python -m bench scale`, in child processes (own Django setup).

`python -m bench.scale_child ROLE JSON_ARGS`; prints `RESULT {json}` like bench.child.

  fill       migrate; empty the outbox; one real email through outbox.enqueue as the template
             row; then `total` rows in bulk SQL (INSERT ... SELECT over a generated series,
             every column of the real table, copied from the template unless set here):
             `queued` due now, the rest sent (~98%), failed or cancelled, the oldest `expired`
             of them past email.log.retentionDays with their bodies still there; hard
             bounces reported for 0.2% of the sent ones.
  requeue    the `queued` newest rows queued again (after a drain), to drain once more.
  measure    the admin paths on the filled table: /metrics, each email-log filter, the banner,
             timed (median of `repeat`), with PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) plans.
  retention  print `ready`, wait for `go`, run the retention sweep (purge_expired), report.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.child import BODY, _configure, _setup

RETENTION_DAYS = 30
RECIPIENTS = 50_000  # distinct addresses: each appears total / 50,000 times
CHUNK = 100_000
BOUNCE_EVERY = 500  # 0.2% of sent mail bounced hard


def _series(vendor: str, start: int, count: int) -> str:
    """`i` from start + 1 to start + count, as a FROM item."""
    if vendor == "postgresql":
        return f"generate_series({start + 1}, {start + count}) AS g(i)"
    return (
        f"(WITH RECURSIVE s(i) AS (SELECT {start + 1} UNION ALL SELECT i + 1 FROM s "  # noqa: S608
        f"WHERE i < {start + count}) SELECT i FROM s) AS g"
    )


def _at(vendor: str, base: str, seconds: str) -> str:
    """The timestamp `base` (a parameter) plus `seconds` (an SQL expression)."""
    if vendor == "postgresql":
        return f"(%s::timestamptz + ({seconds}) * interval '1 second')"
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || ({seconds}) || ' seconds')"


def _overrides(
    vendor: str, args: dict[str, Any], kinds: list[str]
) -> tuple[dict[str, str], list[str]]:
    """Column -> SQL expression over `i` and the template row `t`, and the parameters."""
    total, queued, expired = args["total"], args["queued"], args["expired"]
    done = total - queued
    now = time.time()
    old = now - 60 * 86400  # expired rows: 60 to 31 days ago
    recent = now - (RETENTION_DAYS - 1) * 86400  # the rest: within the retention window
    step_old = (29 * 86400) / max(expired, 1)
    step_new = ((RETENTION_DAYS - 1) * 86400) / max(done - expired, 1)

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    created = (
        f"CASE WHEN i <= {expired} THEN {_at(vendor, 'old', f'i * {step_old}')} "
        f"WHEN i <= {done} THEN {_at(vendor, 'recent', f'(i - {expired}) * {step_new}')} "
        f"ELSE {_at(vendor, 'now', '0')} END"
    )
    params = [iso(old), iso(recent), iso(now)]
    status = (
        f"CASE WHEN i > {done} THEN 'queued' WHEN i %% 200 < 3 THEN 'failed' "
        "WHEN i %% 200 = 3 THEN 'cancelled' ELSE 'sent' END"
    )
    kind = "CASE i %% {} {} END".format(
        len(kinds), " ".join(f"WHEN {k} THEN '{name}'" for k, name in enumerate(kinds))
    )
    sent_at = f"CASE WHEN i <= {done} AND i %% 200 >= 4 THEN {created} END"
    attempted = f"CASE WHEN i <= {done} AND i %% 200 <> 3 THEN {created} END"
    exprs = {
        "message_id": "'<scale-' || i || '@bench.example.com>'",
        "recipient": f"'user' || (i %% {RECIPIENTS}) || '@example.com'",
        "kind": kind,
        "status": status,
        "created_at": created,
        "next_attempt_at": created,
        "sent_at": sent_at,
        "last_attempt_at": attempted,
        "attempts": (
            f"CASE WHEN i > {done} OR i %% 200 = 3 THEN 0 WHEN i %% 200 < 3 THEN 5 ELSE 1 END"
        ),
        "last_code": f"CASE WHEN i <= {done} AND i %% 200 < 3 THEN 550 END",
        "last_error": (
            f"CASE WHEN i <= {done} AND i %% 200 < 3 THEN '550 5.1.1 mailbox unavailable' "
            "ELSE '' END"
        ),
    }
    return exprs, params


def fill(args: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Count

    from sitemail import outbox
    from sitemail.deliverability.models import Event
    from sitemail.mail.kinds import builtin_kinds
    from sitemail.outbox.models import OutboxMessage
    from sitemail.siteconfig import service

    call_command("migrate", verbosity=0)
    _configure(args["port"])
    # The worker's own hourly sweep stays out of the drains; `retention` runs it on its own.
    service.patch({("email.log.retentionDays",): 36500})
    # In SQL: Django's delete() of a million rows collects them all in memory first (15 GB).
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DELETE FROM {Event._meta.db_table}")  # noqa: S608
        cur.execute(f"DELETE FROM {OutboxMessage._meta.db_table}")  # noqa: S608
    with transaction.atomic():
        template = outbox.enqueue("django", "user0@example.com", {"subject": "Scale", "body": BODY})
    vendor = connection.vendor
    exprs, params = _overrides(vendor, args, ["django", *builtin_kinds()][:6])
    table = OutboxMessage._meta.db_table
    cols = [f.column for f in OutboxMessage._meta.concrete_fields if f.column != "id"]
    select = []
    values: list[Any] = []
    for col in cols:
        expr = exprs.get(col, f"t.{col}")
        select.append(expr)
        values += params * (expr.count("%s") // len(params))  # one copy per use of `created`
    start = time.perf_counter()
    total = args["total"]
    for offset in range(0, total, CHUNK):
        count = min(CHUNK, total - offset)
        sql = (
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(select)} "  # noqa: S608
            f"FROM {table} AS t, {_series(vendor, offset, count)} WHERE t.id = %s"
        )
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [*values, template.id])
    OutboxMessage.objects.filter(id=template.id).delete()
    # Hard bounces reported for 1 in BOUNCE_EVERY sent messages: the banner's rate check then
    # has bounces to weigh against the sent count (below its warning, like a healthy list).
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {Event._meta.db_table} (message_id, type, bounce, recipient, status, "  # noqa: S608
            "diagnostic, remote_mta, source, source_id, at) SELECT id, 'bounced', 'hard', "
            "recipient, '5.1.1', 'no such user', '', 'dsn', '', sent_at "
            f"FROM {table} WHERE status = 'sent' AND id % {BOUNCE_EVERY} = 7"
        )
    seconds = time.perf_counter() - start
    if vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"VACUUM ANALYZE {table}")
        _checkpoint()
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    counts = dict(
        OutboxMessage.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {"rows": total, "fill_seconds": seconds, "by_status": counts, **_size(table)}


def _checkpoint() -> None:
    """PostgreSQL: write out the fill's dirty pages now, or the checkpoint that follows a
    few GB of WAL runs during the next drain and slows its commits (wall time, not CPU)."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cur:
            cur.execute("CHECKPOINT")
    except DatabaseError:  # neither superuser nor pg_checkpoint: the drain pays for it
        pass


def _size(table: str) -> dict[str, Any]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cur:
        cur.execute("SELECT pg_total_relation_size(%s), pg_relation_size(%s)", [table, table])
        total, heap = cur.fetchone()
    return {"table_bytes": total, "heap_bytes": heap}


def requeue(args: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from django.db import connection
    from django.db.models import Max
    from django.utils import timezone

    from sitemail.outbox.models import OutboxMessage, Status

    top = OutboxMessage.objects.aggregate(m=Max("id"))["m"] or 0
    n = OutboxMessage.objects.filter(id__gt=top - args["queued"]).update(
        status=Status.QUEUED,
        sent_at=None,
        attempts=0,
        lease_owner=None,
        lease_until=None,
        next_attempt_at=timezone.now(),
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"VACUUM ANALYZE {OutboxMessage._meta.db_table}")
        _checkpoint()
    return {"requeued": n}


def _timed(fn: Callable[[], object], repeat: int) -> dict[str, Any]:
    fn()  # warm: the first call compiles and fills caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def _plans(fn: Callable[[], object]) -> list[dict[str, Any]]:
    """Each SELECT `fn` runs, with the database's plan for it (timed on PostgreSQL)."""
    from sitemail.outbox.plans import explain

    return [{"sql": p.sql, "plan": p.plan} for p in explain(fn, analyze=True)]


def measure(args: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from django.test import Client

    from sitemail.admin import emaillog, status
    from sitemail.admin.metrics import TOKEN_ENV

    os.environ[TOKEN_ENV] = "scale-bench-token"
    client = Client()

    def scrape() -> None:
        r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scale-bench-token")
        if r.status_code != 200:
            raise RuntimeError(f"/metrics answered {r.status_code}")

    def metrics_queries() -> None:
        from sitemail.admin.metrics import exposition

        exposition()

    paths: dict[str, Callable[[], object]] = {
        "/metrics scrape": scrape,
        "email log, first page": lambda: emaillog.page(),
        "email log, recipient (case-insensitive)": lambda: emaillog.page(
            recipient=args["recipient"]
        ),
        "email log, status=failed": lambda: emaillog.page(status="failed"),
        "email log, status=queued": lambda: emaillog.page(status="queued"),
        "email log, status=sent": lambda: emaillog.page(status="sent"),
        "email log, kind": lambda: emaillog.page(kind=args["kind"]),
        "admin banner": status.banners,
    }
    repeat = args.get("repeat", 5)
    out: dict[str, Any] = {}
    for name, fn in paths.items():
        out[name] = _timed(fn, repeat)
        found = fn()
        out[name]["rows"] = len(found.rows) if isinstance(found, emaillog.Page) else None
        out[name]["queries"] = _plans(metrics_queries if name == "/metrics scrape" else fn)
    return out


def retention(args: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from django.db import connection

    from sitemail.outbox.retention import purge_expired

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    purged = purge_expired(RETENTION_DAYS)
    return {"purged": purged, "seconds": time.perf_counter() - start, "days": RETENTION_DAYS}


ROLES = {"fill": fill, "requeue": requeue, "measure": measure, "retention": retention}

if __name__ == "__main__":
    result = ROLES[sys.argv[1]](json.loads(sys.argv[2]))
    print("RESULT " + json.dumps(result, default=str), flush=True)
