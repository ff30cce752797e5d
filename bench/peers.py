"""`python -m bench peers`: sitemail next to the Django email queues its users would otherwise pick.

One smtp-sink (as in `bench delivery`) receives everything, and every system sends the same
email: the subject, text and HTML sitemail renders for the delivery benchmark (~4.9 KB on the
wire). Each round runs, in order, on SQLite and then on PostgreSQL (its own schema per peer):

  sitemail         outbox.enqueue per email; `Worker` (bench.child worker) drains
  django-post-office  mail.send per email; `manage.py send_queued_mail`
  django-mailer    mailer.send_html_mail per email; `manage.py send_mail`
  Celery + Redis   send_email.apply_async per email (a task each: Django send_mail);
                   a real `celery worker` (prefork), started on the filled queue
  plain Django     EmailMultiAlternatives on one SMTP connection (send_messages); no queue

then the same through a relay adding --rtt-ms per round trip (SQLite). Per run: msg/s, and
messages per CPU-second of the sending processes plus the database (the PostgreSQL backends of
the benchmark's database, Redis for Celery; SQLite is inside the sending process), which holds
better than msg/s on a busy machine. Enqueue: emails/s and CPU ms per email in the caller, one
API call per email, --per-transaction calls per commit. Round 0 is a warm-up and discarded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import sysinfo
from bench.dbcpu import DbMeter, NoDb, PgBackendCpu, RedisCpu
from bench.delivery import (
    DEFAULT_PG,
    ROOT,
    Meter,
    child_env,
    child_result,
    postgres_reachable,
    run_child,
    run_workers,
    summary,
)
from bench.latency import DelayRelay
from bench.sink import MissingTool, Sink

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

# What each system runs with, and where its documentation says so.
PEERS: dict[str, dict[str, str]] = {
    "sitemail": {
        "settings": "`Worker(concurrency=8, batch_size=100)` as `sitemail worker` runs it",
        "source": "README.md (Operations, Performance)",
    },
    "django-post-office": {
        "settings": (
            "POST_OFFICE BATCH_SIZE=100, THREADS_PER_PROCESS=5, LOG_LEVEL=2 (defaults), "
            "MESSAGE_ID_ENABLED; `send_queued_mail --processes 1` (its cron example)"
        ),
        "source": "https://pypi.org/project/django-post-office/ (README: Management Commands, "
        "Settings)",
    },
    "django-mailer": {
        "settings": (
            "mailer.send_html_mail to queue, `manage.py send_mail` to send; "
            "MAILER_EMAIL_BACKEND=smtp, no MAILER_EMAIL_MAX_BATCH / THROTTLE (defaults)"
        ),
        "source": "https://github.com/pinax/django-mailer/blob/master/docs/usage.rst",
    },
    "Celery + Redis": {
        "settings": (
            "prefork pool, one process per core (default), task_ignore_result=True, early "
            "acks and worker_prefetch_multiplier=4 (defaults); one task per email"
        ),
        "source": "https://docs.celeryq.dev/en/stable/userguide/optimizing.html, "
        "https://docs.celeryq.dev/en/stable/userguide/tasks.html (Performance and strategies)",
    },
    "plain Django": {
        "settings": "django.core.mail SMTP backend, one connection, send_messages()",
        "source": "https://docs.djangoproject.com/en/5.2/topics/email/ (Sending multiple emails)",
    },
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=5000, help="emails per run (5000)")
    p.add_argument("--rtt-n", type=int, default=300, help="emails per run through the relay")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds after a warm-up (3)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks it runs")
    p.add_argument("--json", default="bench-peers.json", help="where to write the results")
    p.add_argument(
        "--postgres-url",
        default=None,
        help="a PostgreSQL database the run may fill (default: BENCH_DATABASE_URL or "
        f"{DEFAULT_PG}; with --smoke only when given)",
    )
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--redis-url", default=DEFAULT_REDIS, help=f"Celery's broker ({DEFAULT_REDIS})")
    p.add_argument("--rtt-ms", type=float, default=10.0, help="the relay's round trip (0: skip)")
    p.add_argument("--per-transaction", type=int, default=100, help="enqueue calls per commit")
    p.add_argument("--concurrency", type=int, default=8, help="sitemail's SMTP connections")
    p.add_argument("--batch-size", type=int, default=100, help="sitemail's rows per claim")
    p.add_argument("--workdir", help="data directories (default: a temporary directory)")


# ---------------------------------------------------------------------------- services


def ensure_redis(url: str) -> subprocess.Popen[bytes] | None:
    """Redis answering at `url`; started here (nothing kept on disk) when it is not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        return None
    except redis.ConnectionError:
        pass
    server = shutil.which("redis-server")
    if server is None:
        raise MissingTool(
            f"Redis is not reachable at {url} and redis-server is not installed: "
            "apt-get install -y redis-server (scripts/test-deps.sh)"
        )
    port = str(client.connection_pool.connection_kwargs.get("port", 6379))
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise MissingTool(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)


# ---------------------------------------------------------------------------- runs


class Context:
    """What every run of one benchmark invocation shares."""

    def __init__(self, opts: argparse.Namespace, sink: Sink, workdir: Path, parts: Path) -> None:
        self.opts, self.sink, self.workdir, self.parts = opts, sink, workdir, parts
        self.runs = 0

    def peer_env(self, peer: str, db: str | None, port: int) -> dict[str, str]:
        drop = ("DATABASE_URL", "SITEMAIL_DEV", "SITEMAIL_TEST_POSTGRES", "SITE_CONFIG_FILE")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["DJANGO_SETTINGS_MODULE"] = "bench.peer_settings"
        env["BENCH_PEER"] = peer
        env["BENCH_DB"] = db or str(self.workdir / f"peer-{peer}.sqlite3")
        env["BENCH_SMTP_PORT"] = str(port)
        env["BENCH_WORKDIR"] = str(self.workdir)
        env["BENCH_PARTS"] = str(self.parts)
        env["BENCH_REDIS_URL"] = self.opts.redis_url
        return env


def _figure(
    sent: int, seconds: float, worker_cpu: float, db: DbMeter, meter: Meter
) -> dict[str, Any]:
    cpu = worker_cpu + db.cpu
    return {
        "rate": sent / seconds,
        "seconds": seconds,
        "messages": sent,
        "worker_cpu": worker_cpu,
        "db_cpu": db.cpu,
        "msg_per_cpu_s": sent / cpu if cpu > 0 else 0.0,
        "sink_cores": meter.sink_cpu / meter.seconds,
        "machine_cores": meter.machine_cores,
    }


def _enqueue(prep: dict[str, Any]) -> dict[str, float]:
    return {
        "enqueue_rate": prep["enqueued"] / prep["enqueue_seconds"],
        "enqueue_cpu_ms": prep["enqueue_cpu"] * 1000 / prep["enqueued"],
    }


def started(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A child that prints `ready` once set up and starts on `go`."""
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"{cmd[3]} did not start: {line}{proc.stdout.read()}")
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def collect(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    if proc.returncode:
        raise RuntimeError(f"a benchmark child failed:\n{out[-3000:]}")
    return child_result(out)


def _go(proc: subprocess.Popen[str]) -> dict[str, Any]:
    release(proc)
    return collect(proc)


def _db_meter(db: str | None) -> DbMeter:
    return PgBackendCpu(db) if db else NoDb()


def run_sitemail(ctx: Context, db: str | None, n: int, port: int) -> dict[str, Any]:
    env = child_env(db or "sqlite", ctx.workdir)
    meter = _db_meter(db)
    ctx.opts.service = n  # every row through outbox.enqueue: the enqueue figure covers all
    fig = run_workers(ctx.sink, env, 1, ctx.opts, n, port=port, db=meter)
    out = {**fig, "worker_cpu": fig["client_cpu"]}
    cpu = fig["client_cpu"] + meter.cpu
    out["msg_per_cpu_s"] = n / cpu if cpu > 0 else 0.0
    out["enqueue_rate"] = fig["enqueue_rate"]
    out["enqueue_cpu_ms"] = fig["enqueue_cores"] * fig["enqueue_ms"]["total"]
    return out


def run_db_peer(ctx: Context, peer: str, db: str | None, n: int, port: int) -> dict[str, Any]:
    """django-post-office, django-mailer or plain Django (which has no queue)."""
    name = {"django-post-office": "postoffice", "django-mailer": "mailer"}.get(peer, "django")
    env = ctx.peer_env(name, db, port)
    args = {"n": n, "per_transaction": ctx.opts.per_transaction}
    prep = None if name == "django" else run_child("prepare", args, env, "bench.peer_child")
    proc = started([sys.executable, "-m", "bench.peer_child", "drain", json.dumps(args)], env)
    meter = _db_meter(db)
    with Meter(ctx.sink) as m:
        meter.start()
        r = _go(proc)
        meter.stop()
    if r["sent"] != n:
        raise RuntimeError(f"{peer} sent {r['sent']} of {n}")
    fig = _figure(r["sent"], r["seconds"], r["cpu"], meter, m)
    return {**fig, **(_enqueue(prep) if prep else {})}


def _tree_cpu(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_celery(ctx: Context, n: int, port: int) -> dict[str, Any]:
    import redis

    ctx.runs += 1
    key = f"bench-{os.getpid()}-{ctx.runs}"
    queue, node = f"{key}-q", f"{key}@localhost"
    client = redis.Redis.from_url(ctx.opts.redis_url)
    client.delete(f"{key}:done", f"{key}:last", queue)
    env = {**ctx.peer_env("celery", None, port), "BENCH_CELERY_KEY": key}
    log = open(ctx.workdir / f"{key}.log", "w")  # closed in the finally below
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.peer_celery", "worker", "-Q",
         f"{key}-idle", "-n", node, "--pool", "prefork", "-l", "WARNING"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        args = {"n": n, "queue": queue, "per_transaction": ctx.opts.per_transaction}
        prep = run_child("prepare", args, env, "bench.peer_child")
        go = started(
            [sys.executable, "-m", "bench.peer_child", "celery_go",
             json.dumps({"n": n, "queue": queue, "node": node})],
            env,
        )  # fmt: skip
        meter = RedisCpu(ctx.opts.redis_url)
        cpu0 = _tree_cpu(worker.pid)
        with Meter(ctx.sink) as m:
            meter.start()
            r = _go(go)
            meter.stop()
        cpu = _tree_cpu(worker.pid) - cpu0
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        client.delete(f"{key}:done", f"{key}:last", queue, f"{key}-idle")
    return {**_figure(r["sent"], r["seconds"], cpu, meter, m), **_enqueue(prep)}


# ---------------------------------------------------------------------------- the run


Case = tuple[str, str, Callable[[], dict[str, Any]]]  # (system, database, run)


def _cases(
    ctx: Context, pg: str | None, relay: DelayRelay | None, sizes: dict[str, int]
) -> dict[str, Case]:
    """In the order each round runs them."""
    cases: dict[str, Case] = {}

    def for_db(db: str | None, label: str, name: str, n: int, port: int) -> None:
        def sitemail() -> dict[str, Any]:
            return run_sitemail(ctx, db, n, port)

        cases[f"sitemail, {name}"] = ("sitemail", label, sitemail)
        for peer in ("django-post-office", "django-mailer"):

            def peer_run(peer: str = peer) -> dict[str, Any]:
                return run_db_peer(ctx, peer, db, n, port)

            cases[f"{peer}, {name}"] = (peer, label, peer_run)

    def no_db(n: int, port: int, kind: str, suffix: str = "") -> None:
        def celery() -> dict[str, Any]:
            return run_celery(ctx, n, port)

        def django() -> dict[str, Any]:
            return run_db_peer(ctx, "plain Django", None, n, port)

        cases[f"Celery + Redis{suffix}"] = ("Celery + Redis", kind or "Redis", celery)
        cases[f"plain Django, one connection{suffix}"] = ("plain Django", kind or "none", django)

    sink, n = ctx.sink.port, sizes["n"]
    for_db(None, "SQLite", "SQLite", n, sink)
    if pg is not None:
        for_db(pg, "PostgreSQL", "PostgreSQL", n, sink)
    no_db(n, sink, "")
    if relay is not None:
        suffix = f", {ctx.opts.rtt_ms:g} ms round trip"
        for_db(None, "SQLite+rtt", "SQLite" + suffix, sizes["rtt"], relay.port)
        no_db(sizes["rtt"], relay.port, "rtt", suffix)
    return cases


def run(opts: argparse.Namespace) -> int:
    smoke = opts.smoke
    sizes = {"n": 30, "rtt": 10} if smoke else {"n": opts.n, "rtt": opts.rtt_n}
    rounds, warmup = (1, 0) if smoke else (opts.rounds, 1)
    opts.enqueue_args = {"api": "one", "per_transaction": opts.per_transaction}
    pg = opts.postgres_url or (None if smoke else os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    if opts.no_postgres:
        pg = None
    if pg is not None and not postgres_reachable(pg):
        print(f"error: PostgreSQL not reachable at {pg} (or --no-postgres)", file=sys.stderr)
        return 2
    workdir = Path(opts.workdir or tempfile.mkdtemp(prefix="sitemail-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        redis_proc = ensure_redis(opts.redis_url)
        sink = Sink()
    except MissingTool as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    relay = DelayRelay(sink.port, opts.rtt_ms) if opts.rtt_ms > 0 else None
    started, machine = time.time(), sysinfo.describe()
    try:
        parts = run_child("message_parts", {"port": sink.port}, child_env("sqlite", workdir))
        parts_path = workdir / "parts.json"
        parts_path.write_text(json.dumps(parts))
        ctx = Context(opts, sink, workdir, parts_path)
        cases = _cases(ctx, pg, relay, sizes)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
        for r in range(warmup + rounds):
            for name, (_, _, case) in cases.items():
                print(f"round {r}{' (warm-up)' if r < warmup else ''}: {name}", file=sys.stderr)
                fig = case()
                if r >= warmup:
                    runs[name].append(fig)
    finally:
        if relay is not None:
            relay.stop()
        sink.stop()
        if redis_proc is not None:
            redis_proc.terminate()
        if not opts.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = _report(cases, runs, parts, opts, sizes, started, machine, pg)
    Path(opts.json).write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nwritten: {opts.json}")
    return 0


# ---------------------------------------------------------------------------- report


def _row(name: str, system: str, database: str, figs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return statistics.median(f[key] for f in figs)

    row: dict[str, Any] = {
        "name": name,
        "system": system,
        "database": database,
        "rate": summary([f["rate"] for f in figs]),
        "msg_per_cpu_s": summary([f["msg_per_cpu_s"] for f in figs]),
        "worker_cpu_s": med("worker_cpu"),
        "db_cpu_s": med("db_cpu"),
        "sink_cores": med("sink_cores"),
        "machine_cores": med("machine_cores"),
        "runs": figs,
    }
    if "enqueue_rate" in figs[0]:
        row["enqueue_rate"] = summary([f["enqueue_rate"] for f in figs])
        row["enqueue_cpu_ms"] = med("enqueue_cpu_ms")
    return row


def _ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """sitemail's median / the best peer's, per database (Redis and no-database peers are
    compared on both, since their figures do not depend on it)."""
    out: dict[str, Any] = {}
    groups = {"SQLite": ("SQLite", "Redis", "none"), "PostgreSQL": ("PostgreSQL", "Redis", "none")}
    groups["10 ms round trip (SQLite)"] = ("SQLite+rtt", "rtt")
    for label, dbs in groups.items():
        ours = [r for r in rows if r["system"] == "sitemail" and r["database"] == dbs[0]]
        peers = [r for r in rows if r["system"] != "sitemail" and r["database"] in dbs]
        if not ours or not peers:
            continue
        (me,) = ours
        entry: dict[str, Any] = {}
        for metric in ("rate", "msg_per_cpu_s", "enqueue_rate"):
            theirs = [(p[metric]["median"], p["name"]) for p in peers if metric in p]
            if metric in me and theirs:
                best, who = max(theirs)
                entry[metric] = {"ratio": me[metric]["median"] / best, "best_peer": who}
        out[label] = entry
    return out


def _report(
    cases: dict[str, Case],
    runs: dict[str, list[dict[str, Any]]],
    parts: dict[str, Any],
    opts: argparse.Namespace,
    sizes: dict[str, int],
    started: float,
    machine: dict[str, object],
    pg: str | None,
) -> dict[str, Any]:
    rows = [_row(name, sys_, db, runs[name]) for name, (sys_, db, _) in cases.items()]
    return {
        "benchmark": "peers",
        "smoke": opts.smoke,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started,
        "machine": machine,
        "loadavg_at_end": os.getloadavg(),
        "parameters": {
            **sizes,
            "rounds": len(next(iter(runs.values()))),
            "rtt_ms": opts.rtt_ms,
            "per_transaction": opts.per_transaction,
            "postgresql": bool(pg),
            "message_bytes": parts["message_bytes"],
        },
        "peers": PEERS,
        "results": rows,
        "sitemail_vs_best_peer": _ratios(rows),
    }


def _print(report: dict[str, Any]) -> None:
    m, p = report["machine"], report["parameters"]
    print(
        f"\nsitemail and its peers: {m['cpus']} CPUs ({m['cpu_model']}), load "
        f"{m['loadavg_at_start'][0]:.2f} -> {report['loadavg_at_end'][0]:.2f}, n={p['n']} "
        f"(rtt {p['rtt']}), {p['rounds']} measured round(s), {p['message_bytes']} B message"
    )
    print(
        f"{'':50} {'msg/s':>7} {'min-max':>13} {'msg/CPU-s':>9} {'worker':>6} {'db':>5} "
        f"{'enq/s':>6} {'enq ms':>6}"
    )
    for r in report["results"]:
        rate = r["rate"]
        enq = r.get("enqueue_rate", {}).get("median")
        print(
            f"{r['name'][:50]:50} {rate['median']:7.0f} {rate['min']:6.0f}-{rate['max']:<6.0f} "
            f"{r['msg_per_cpu_s']['median']:9.0f} {r['worker_cpu_s']:6.2f} {r['db_cpu_s']:5.2f} "
            + (f"{enq:6.0f} {r['enqueue_cpu_ms']:6.3f}" if enq else f"{'-':>6} {'-':>6}")
        )
    print("(worker, db: CPU seconds of the sending processes and of the database, median)")
    for label, entry in report["sitemail_vs_best_peer"].items():
        text = ", ".join(f"{k} {v['ratio']:.2f}x ({v['best_peer']})" for k, v in entry.items())
        print(f"sitemail / best peer, {label}: {text}")
