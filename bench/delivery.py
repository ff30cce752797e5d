"""`python -m bench delivery`: sitemail's worker next to smtp-source's limit, in one run.

One smtp-sink (Postfix) on a free loopback port receives everything. Each round runs, in
order: smtp-source's limit (16 sessions, connections kept), smtp-source with a new connection
per message, Python's smtplib+EmailMessage with a new connection per message, sitemail's
worker draining N pre-enqueued ~4 KB messages on SQLite, smtp-source (8 sessions) and the
SQLite worker again through a relay adding a round trip (--rtt-ms, as if the server were
across a network: round trips per message show), and the worker on PostgreSQL with 1, 2 and
4 processes. Round 0 is a warm-up and discarded; medians and min-max of the rest are
reported, each as a ratio to the limit of the same run. Then, once: enqueue throughput,
time to first delivery, sendTestEmail latency over GraphQL and worker peak RSS.
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

from bench import auth, sysinfo
from bench.dbcpu import DbMeter, NoDb, PgBackendCpu
from bench.latency import DelayRelay, measure_rtt
from bench.sink import MissingTool, Sink, free_port, smtp_source

ROOT = Path(__file__).resolve().parent.parent
SITEMAIL = str(Path(sys.executable).with_name("sitemail"))
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/sitemail_bench"
SINK_BOUND = 0.9  # of one core: smtp-sink is single-threaded


def add_worker_arguments(p: argparse.ArgumentParser, postgres_help: str) -> None:
    """The databases and the worker's settings, as every drain benchmark takes them."""
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG),
        help=postgres_help,
    )
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--concurrency", type=int, default=8, help="SMTP connections per worker")
    p.add_argument("--batch-size", type=int, default=100, help="rows per claim")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=20000, help="messages per worker run (20000)")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds after a warm-up (3)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks it runs (~15 s)")
    p.add_argument("--json", default="bench-delivery.json", help="where to write the results")
    add_worker_arguments(p, "a PostgreSQL database the benchmark may empty (created if missing)")
    p.add_argument("--rss-rows", type=int, default=100000, help="queued rows for the RSS run")
    p.add_argument("--workdir", help="data directories (default: a temporary directory)")
    p.add_argument(
        "--auth-compare",
        action="store_true",
        help="also run the SQLite worker with AUTH PLAIN and with XOAUTH2 (tokens from a "
        "loopback OAuth 2.0 endpoint) through an AUTH front to the sink, interleaved per round",
    )
    p.add_argument(
        "--auth-only",
        action="store_true",
        help="with --auth-compare: run only the PLAIN and XOAUTH2 cases (and report only them)",
    )
    p.add_argument(
        "--rtt-ms",
        type=float,
        default=10.0,
        help="also measure through a relay adding this round trip (0: skip; default 10)",
    )


# ---------------------------------------------------------------------------- children


def child_env(db: str, workdir: Path) -> dict[str, str]:
    # SITEMAIL_TEST_POSTGRES would point a child without DATABASE_URL at the test suite's
    # database: every child gets exactly the database chosen here.
    drop = ("DATABASE_URL", "SITEMAIL_DEV", "SITEMAIL_TEST_POSTGRES", "SITE_CONFIG_FILE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["DJANGO_SETTINGS_MODULE"] = "sitemail.settings"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if db.startswith("postgres"):
        env["DATABASE_URL"] = db
        env["SITEMAIL_DATA_DIR"] = str(workdir / "pg")
    else:
        env["SITEMAIL_DATA_DIR"] = str(workdir / db)
    return env


def child_result(output: str) -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise RuntimeError(f"no result from the benchmark child:\n{output[-3000:]}")


def run_child(
    role: str, args: dict[str, Any], env: dict[str, str], module: str = "bench.child"
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", module, role, json.dumps(args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {role} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return child_result(proc.stdout)


def postgres_reachable(url: str) -> bool:
    """Reachable (creating the database if needed)?"""
    try:
        import psycopg
    except ImportError:
        return False
    from urllib.parse import urlparse

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            return False
    try:
        admin = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(admin, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return True
    except psycopg.Error:
        return False


# ---------------------------------------------------------------------------- measurements


class Meter:
    """CPU of the sink and of the machine across one measured interval."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __enter__(self) -> Meter:
        self.t0, self.sink0, self.m0 = time.perf_counter(), self.sink.cpu(), sysinfo.machine()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.sink_cpu = self.sink.cpu() - self.sink0
        self.machine_cores = sysinfo.machine_busy_cores(self.m0, sysinfo.machine())


def _figure(messages: int, seconds: float, client_cpu: float, meter: Meter) -> dict[str, Any]:
    return {
        "rate": messages / seconds,
        "seconds": seconds,
        "messages": messages,
        "client_cores": client_cpu / meter.seconds,
        "sink_cores": meter.sink_cpu / meter.seconds,
        "machine_cores": meter.machine_cores,
    }


def run_limit(sink: Sink, size: dict[str, int]) -> dict[str, Any]:
    with Meter(sink) as m:
        r = smtp_source(sink.port, messages=size["limit"], sessions=16, reuse=True)
    return _figure(size["limit"], r.seconds, r.cpu, m)


def run_newconn(sink: Sink, size: dict[str, int]) -> dict[str, Any]:
    with Meter(sink) as m:
        r = smtp_source(sink.port, messages=size["newconn"], sessions=1, reuse=False)
    return _figure(size["newconn"], r.seconds, r.cpu, m)


def run_limit_rtt(sink: Sink, size: dict[str, int], relay: DelayRelay) -> dict[str, Any]:
    rtt = measure_rtt(relay.port)
    with Meter(sink) as m:
        r = smtp_source(relay.port, messages=size["rtt"], sessions=8, reuse=True)
    return {**_figure(size["rtt"], r.seconds, r.cpu, m), "relay_rtt_ms": rtt * 1000}


def run_workers_rtt(
    sink: Sink, env: dict[str, str], opts: argparse.Namespace, n: int, relay: DelayRelay
) -> dict[str, Any]:
    """One worker through the relay; its rate against concurrency / round trip, with the
    round trip as set (--rtt-ms) and as measured just before (the relay's own lateness)."""
    rtt = measure_rtt(relay.port)
    fig = run_workers(sink, env, 1, opts, n, port=relay.port)
    fig["relay_rtt_ms"] = rtt * 1000
    fig["vs_ceiling"] = fig["rate"] / (opts.concurrency * 1000 / opts.rtt_ms)
    fig["vs_measured_ceiling"] = fig["rate"] / (opts.concurrency / rtt)
    return fig


def run_pybaseline(sink: Sink, size: dict[str, int], workdir: Path) -> dict[str, Any]:
    with Meter(sink) as m:
        r = run_child(
            "pybaseline", {"port": sink.port, "m": size["python"]}, child_env("py", workdir)
        )
    return _figure(size["python"], r["seconds"], r["cpu"], m)


def run_workers(
    sink: Sink,
    env: dict[str, str],
    processes: int,
    opts: argparse.Namespace,
    n: int,
    port: int | None = None,
    smtp: dict[str, Any] | None = None,
    db: DbMeter | None = None,
) -> dict[str, Any]:
    """Pre-enqueue n, start `processes` workers, release them together, time the drain.
    port: where email.smtp points (default the sink; a DelayRelay in front of it); smtp: the
    whole email.smtp instead (the AUTH front of bench/auth.py); db: also measures the
    database's CPU over the drain (bench peers)."""
    db = db or NoDb()
    prep_args = {"port": port or sink.port, "n": n, "service": opts.service, "smtp": smtp}
    # bench peers: one outbox.enqueue per email, as the peers' APIs are called.
    prep_args.update(getattr(opts, "enqueue_args", {}))
    prep = run_child("prepare", prep_args, env)
    args = json.dumps({"concurrency": opts.concurrency, "batch_size": opts.batch_size})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.child", "worker", args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"worker did not start: {line}{p.stdout.read()}")
    with Meter(sink) as m:
        db.start()
        go = time.time()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=900)[0] for p in procs]
        db.stop()
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a worker failed: {outputs}")
    results = [child_result(o) for o in outputs]
    sent = sum(r["sent"] for r in results)
    if sent != n or any(r["failed"] for r in results):
        raise RuntimeError(f"workers sent {sent} of {n}: {results}")
    last = max(r["last_sent_at"] for r in results)
    fig = _figure(sent, last - go, sum(r["cpu"] for r in results), m)
    fig["client_cpu"] = sum(r["cpu"] for r in results)
    fig["db_cpu"] = db.cpu
    fig["enqueue_rate"] = prep["enqueued"] / prep["enqueue_seconds"]
    fig["enqueue_cores"] = prep["enqueue_cpu"] / prep["enqueue_seconds"]
    fig["enqueue_ms"] = {
        "total": prep["enqueue_seconds"] * 1000 / prep["enqueued"],
        **prep["enqueue_breakdown_ms"],
    }
    fig["message_bytes"] = prep["message_bytes"]
    fig["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    return fig


def first_delivery(
    sink: Sink, env: dict[str, str], count: int, external: bool, prepare: bool = True
) -> list[float]:
    """Latencies (ms) from the enqueuing commit to sent; external: a `sitemail worker`."""
    if prepare:
        run_child("prepare", {"port": sink.port, "n": 0, "service": 0}, env)
    worker = None
    if external:
        worker = subprocess.Popen(
            [SITEMAIL, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(2.0)  # its startup (imports, first claim) is not what is measured
    try:
        r = run_child("first_delivery", {"count": count, "in_process": not external}, env)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(15)
    return [float(x) for x in r["latencies_ms"]]


def test_email_latency(sink: Sink, workdir: Path, requests: int) -> list[float]:
    """sendTestEmail over GraphQL to `sitemail serve` (SQLite), sent synchronously to the sink."""
    import httpx

    env = child_env("serve", workdir)
    port = free_port()
    log = open(workdir / "serve.log", "w")  # closed in the finally below
    proc = subprocess.Popen(
        [SITEMAIL, "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sitemail serve did not start: {workdir / 'serve.log'}")
            time.sleep(0.1)

        def cli(*args: str) -> str:
            done = subprocess.run([SITEMAIL, *args], env=env, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"sitemail {args[0]} {args[1]}: {done.stderr[-2000:]}")
            return done.stdout

        cli(
            "users",
            "create",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            "a long enough password",
            "--site-admin",
        )
        token = cli("tokens", "create", "admin", "--note", "bench").strip().splitlines()[-1]
        with httpx.Client(base_url=url, headers={"Authorization": f"token {token}"}) as client:

            def gql(query: str, variables: dict[str, Any]) -> Any:
                r = client.post("/.api/graphql", json={"query": query, "variables": variables})
                r.raise_for_status()
                body = r.json()
                if body.get("errors"):
                    raise RuntimeError(body["errors"])
                return body["data"]

            current = gql("{ site { configuration { id } } }", {})
            doc = {
                "externalURL": "https://sourcegraph.example.com",
                "email.address": "noreply@example.com",
                "email.smtp": {
                    "host": "127.0.0.1",
                    "port": sink.port,
                    "authentication": "none",
                    "tls": "none",
                    "domain": "bench.example.com",
                },
            }
            gql(
                "mutation($id: Int!, $in: String!) "
                "{ updateSiteConfiguration(lastID: $id, input: $in) }",
                {"id": current["site"]["configuration"]["id"], "in": json.dumps(doc)},
            )
            mutation = "mutation($to: String!) { sendTestEmail(to: $to) }"
            latencies = []
            for i in range(requests + 5):
                start = time.perf_counter()
                data = gql(mutation, {"to": "admin@example.com"})
                elapsed = (time.perf_counter() - start) * 1000
                if not data["sendTestEmail"].startswith("Sent test email"):
                    raise RuntimeError(data["sendTestEmail"])
                if i >= 5:  # warm-up: first requests import and compile lazily
                    latencies.append(elapsed)
            return latencies
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# ---------------------------------------------------------------------------- report


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p99": _percentile(values, 0.99),
        "max": max(values),
        "count": len(values),
    }


def run(opts: argparse.Namespace) -> int:
    smoke = opts.smoke
    n = 300 if smoke else opts.n
    size = (
        {"limit": 1000, "newconn": 200, "python": 100, "rtt": 100}
        if smoke
        else {"limit": 20000, "newconn": 5000, "python": 2000, "rtt": 2000}
    )
    # Through outbox.enqueue_many (the enqueue figure); the rest are copies made in SQL.
    opts.service = n if smoke else 2000
    rounds = 1 if smoke else opts.rounds
    warmup = 0 if smoke else 1
    workdir = Path(opts.workdir or tempfile.mkdtemp(prefix="sitemail-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    pg = None if opts.no_postgres or smoke else opts.postgres_url
    if pg is not None and not postgres_reachable(pg):
        print(f"PostgreSQL not reachable at {pg}: SQLite only", file=sys.stderr)
        pg = None

    try:
        sink = Sink()
    except MissingTool as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started, machine = time.time(), sysinfo.describe()
    sqlite_env = child_env("sqlite", workdir)
    pg_env = child_env(pg, workdir) if pg else None
    cases: dict[str, Callable[[], dict[str, Any]]] = {
        "smtp-source limit (16 sessions, reused)": lambda: run_limit(sink, size),
        "smtp-source, new connection per message": lambda: run_newconn(sink, size),
        "Python smtplib+EmailMessage, new connection per message": lambda: run_pybaseline(
            sink, size, workdir
        ),
        "sitemail worker, SQLite, 1 process": lambda: run_workers(sink, sqlite_env, 1, opts, n),
    }
    relay = DelayRelay(sink.port, opts.rtt_ms) if opts.rtt_ms > 0 else None
    if relay is not None:
        rtt = f"{opts.rtt_ms:g} ms round trip"
        cases[f"smtp-source, 8 sessions reused, {rtt}"] = lambda: run_limit_rtt(sink, size, relay)
        cases[f"sitemail worker, SQLite, 1 process, {rtt}"] = lambda: run_workers_rtt(
            sink, sqlite_env, opts, size["rtt"], relay
        )
    if opts.auth_compare and opts.auth_only:
        cases.clear()
    front = _auth_cases(cases, sink, sqlite_env, opts, n) if opts.auth_compare else None
    if pg_env is not None:
        for k in (1, 2, 4):
            name = f"sitemail worker, PostgreSQL, {k} process{'es' if k > 1 else ''}"
            cases[name] = lambda k=k: run_workers(  # type: ignore[misc]
                sink, pg_env, k, opts, n, db=PgBackendCpu(pg_env["DATABASE_URL"])
            )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    names = list(cases)
    extra: dict[str, Any] = {}
    try:
        for r in range(warmup + rounds):
            for name, case in cases.items():
                print(f"round {r}{' (warm-up)' if r < warmup else ''}: {name}", file=sys.stderr)
                fig = case()
                if r >= warmup:
                    runs[name].append(fig)
        if front is not None:  # before the one-off figures, so a failure there keeps it
            extra["auth_compare"] = _auth_report(runs, front)
            print(f"auth compare: {json.dumps(extra['auth_compare'])}", file=sys.stderr)
            if opts.auth_only:
                Path(opts.json).write_text(json.dumps(extra["auth_compare"], indent=2) + "\n")
                return 0
        print("enqueue, first delivery, sendTestEmail, RSS", file=sys.stderr)
        count = 3 if smoke else 30
        extra["first_delivery_ms"] = {
            "SQLite, worker in the enqueuing process (on_commit wake)": _latency(
                first_delivery(sink, sqlite_env, count, external=False, prepare=not smoke)
            ),
        }
        if not smoke:
            extra["first_delivery_ms"]["SQLite, separate `sitemail worker` (0.1 s poll)"] = (
                _latency(first_delivery(sink, sqlite_env, count, external=True))
            )
        if pg_env is not None:
            extra["first_delivery_ms"]["PostgreSQL, separate `sitemail worker` (NOTIFY)"] = (
                _latency(first_delivery(sink, pg_env, count, external=True))
            )
        extra["send_test_email_ms"] = _latency(
            test_email_latency(sink, workdir, 5 if smoke else 200)
        )
        rss_rows = n if smoke else opts.rss_rows
        rss_env = pg_env or sqlite_env
        # Smoke: the SQLite run's figure (the point is only that it is reported).
        rss = runs[names[3]][-1] if smoke else run_workers(sink, rss_env, 1, opts, rss_rows)
        extra["worker_rss"] = {
            "queued_rows": rss_rows,
            "database": "postgresql" if pg_env else "sqlite",
            "peak_rss_mb": rss["peak_rss_mb"],
            "rate": rss["rate"],
        }
    finally:
        if relay is not None:
            relay.stop()
        if front is not None:
            front[0].stop()
            front[1].stop()
        sink.stop()
        if not opts.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    report = _report(runs, extra, opts, n, size, smoke, started)
    report["machine"] = machine
    Path(opts.json).write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nwritten: {opts.json}")
    return 0


AUTH_CASES = {m: f"sitemail worker, SQLite, 1 process, AUTH {m} (front)" for m in auth.MECHANISMS}


def _auth_cases(
    cases: dict[str, Callable[[], dict[str, Any]]],
    sink: Sink,
    env: dict[str, str],
    opts: argparse.Namespace,
    n: int,
) -> tuple[auth.AuthFront, auth.TokenServer]:
    """PLAIN and XOAUTH2 through the same AUTH front, one after the other in every round."""
    tokens = auth.TokenServer()
    front = auth.AuthFront(sink.port, tokens)
    for mechanism, name in AUTH_CASES.items():
        smtp = auth.smtp_doc(front.port, mechanism, tokens.url)
        cases[name] = lambda smtp=smtp: run_workers(  # type: ignore[misc]
            sink, env, 1, opts, n, smtp=smtp
        )
    return front, tokens


def _auth_report(
    runs: dict[str, list[dict[str, Any]]], front: tuple[auth.AuthFront, auth.TokenServer]
) -> dict[str, Any]:
    """Per round, XOAUTH2's rate over PLAIN's (the two ran back to back); and the medians."""
    plain = [f["rate"] for f in runs[AUTH_CASES["PLAIN"]]]
    xoauth2 = [f["rate"] for f in runs[AUTH_CASES["XOAUTH2"]]]
    ratios = [x / p for x, p in zip(xoauth2, plain, strict=True)]

    def cpu_us(name: str) -> list[float]:  # worker CPU per message: less noisy than the rate
        return [f["client_cores"] * f["seconds"] * 1e6 / f["messages"] for f in runs[name]]

    return {
        "plain_rate": summary(plain),
        "xoauth2_rate": summary(xoauth2),
        "plain_rates": plain,
        "xoauth2_rates": xoauth2,
        "plain_worker_cpu_us_per_msg": cpu_us(AUTH_CASES["PLAIN"]),
        "xoauth2_worker_cpu_us_per_msg": cpu_us(AUTH_CASES["XOAUTH2"]),
        "machine_cores": [f["machine_cores"] for name in AUTH_CASES.values() for f in runs[name]],
        "xoauth2_vs_plain_per_round": ratios,
        "xoauth2_vs_plain_median": statistics.median(ratios),
        "token_requests": front[1].requests,
        "auths": front[0].auths,
    }


def _report(
    runs: dict[str, list[dict[str, Any]]],
    extra: dict[str, Any],
    opts: argparse.Namespace,
    n: int,
    size: dict[str, int],
    smoke: bool,
    started: float,
) -> dict[str, Any]:
    names = list(runs)
    limit = statistics.median(f["rate"] for f in runs[names[0]])
    newconn = statistics.median(f["rate"] for f in runs[names[1]])
    rows = []
    for name, figs in runs.items():
        rates = [f["rate"] for f in figs]
        med = statistics.median(rates)
        sink_cores = statistics.median(f["sink_cores"] for f in figs)
        row: dict[str, Any] = {
            "name": name,
            "rate": summary(rates),
            "vs_limit": med / limit,
            "vs_new_connection": med / newconn,
            "client_cores": statistics.median(f["client_cores"] for f in figs),
            "sink_cores": sink_cores,
            "machine_cores": statistics.median(f["machine_cores"] for f in figs),
            "sink_bound": sink_cores > SINK_BOUND,
            "runs": figs,
        }
        if "client_cpu" in figs[0]:  # a worker run: CPU per message, worker + database
            row["msg_per_cpu_second"] = statistics.median(
                f["messages"] / (f["client_cpu"] + f["db_cpu"]) for f in figs
            )
        for key in ("relay_rtt_ms", "vs_ceiling", "vs_measured_ceiling"):
            if key in figs[0]:
                row[key] = statistics.median(f[key] for f in figs)
        if "enqueue_rate" in figs[0]:
            row["enqueue_rate"] = summary([f["enqueue_rate"] for f in figs])
            row["message_bytes"] = figs[0]["message_bytes"]
        rows.append(row)
    by_name = {r["name"]: r for r in rows}
    pg1 = by_name.get("sitemail worker, PostgreSQL, 1 process")
    pg2 = by_name.get("sitemail worker, PostgreSQL, 2 processes")
    sqlite = by_name["sitemail worker, SQLite, 1 process"]
    # Per database: each run's prepare step enqueues through the service on that database.
    enqueue = {
        db: statistics.median(
            r["enqueue_rate"]["median"] for r in rows if "enqueue_rate" in r and db in r["name"]
        )
        for db in ("SQLite", "PostgreSQL")
        if any("enqueue_rate" in r and db in r["name"] for r in rows)
    }
    timed = [f["enqueue_ms"] for r in rows for f in r["runs"] if "enqueue_ms" in f]
    parts = {k: statistics.median(t[k] for t in timed) for k in timed[0]} if timed else {}
    targets = {
        "sqlite_vs_limit >= 0.20": sqlite["vs_limit"] >= 0.20,
        "sqlite_vs_new_connection >= 1.5": sqlite["vs_new_connection"] >= 1.5,
        "enqueue >= 2000/s (each database)": min(enqueue.values()) >= 2000,
        "send_test_email_p50 <= 30 ms": extra["send_test_email_ms"]["p50"] <= 30,
        "worker_rss <= 150 MB": extra["worker_rss"]["peak_rss_mb"] <= 150,
        "first_delivery p50 <= 200 ms (in-process / NOTIFY)": all(
            v["p50"] <= 200 for k, v in extra["first_delivery_ms"].items() if "poll" not in k
        ),
    }
    if "auth_compare" in extra:
        targets["XOAUTH2 within 5% of PLAIN"] = (
            extra["auth_compare"]["xoauth2_vs_plain_median"] >= 0.95
        )
    if pg1 and pg2:
        targets["pg_2_workers >= 1.6x one"] = pg2["rate"]["median"] >= 1.6 * pg1["rate"]["median"]
    return {
        "benchmark": "delivery",
        "smoke": smoke,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started,
        "machine": sysinfo.describe(),
        "loadavg_at_end": os.getloadavg(),
        "parameters": {
            "n": n,
            "rounds": len(runs[names[0]]),
            "sizes": size,
            "concurrency": opts.concurrency,
            "batch_size": opts.batch_size,
        },
        "limit_rate": limit,
        "results": rows,
        "enqueue_rate_median": enqueue,  # emails/s by database
        "enqueue_ms_median": parts,
        **extra,
        "targets": targets,
    }


def _print(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\nsitemail delivery benchmark: {m['cpus']} CPUs ({m['cpu_model']}), "
        f"load {m['loadavg_at_start'][0]:.2f} -> {report['loadavg_at_end'][0]:.2f}, "
        f"N={report['parameters']['n']}, {report['parameters']['rounds']} measured round(s)"
    )
    head = (
        f"{'':58} {'msg/s':>7} {'min-max':>13} {'x limit':>7} {'x newc':>6} "
        f"{'client':>6} {'sink':>5} {'machine':>7}"
    )
    print(head)
    for r in report["results"]:
        rate = r["rate"]
        flag = "  SINK-BOUND" if r["sink_bound"] else ""
        print(
            f"{r['name'][:58]:58} {rate['median']:7.0f} "
            f"{rate['min']:6.0f}-{rate['max']:<6.0f} {r['vs_limit']:7.2f} "
            f"{r['vs_new_connection']:6.2f} {r['client_cores']:6.2f} {r['sink_cores']:5.2f} "
            f"{r['machine_cores']:7.2f}{flag}"
        )
    print("(client, sink, machine: cores busy, median; 'x newc': ratio to smtp-source's")
    print(" new-connection-per-message rate)")
    for r in report["results"]:
        if "msg_per_cpu_second" in r:
            print(f"{r['name'][:58]:58} {r['msg_per_cpu_second']:7.0f} msg per CPU-second")
        if "relay_rtt_ms" in r:
            ceiling = (
                f", {r['vs_ceiling']:.2f}x concurrency/RTT as set, "
                f"{r['vs_measured_ceiling']:.2f}x as measured"
                if "vs_ceiling" in r
                else ""
            )
            print(f"{r['name'][:58]:58} relay round trip {r['relay_rtt_ms']:.2f} ms{ceiling}")
    rates = ", ".join(f"{db} {v:.0f}" for db, v in report["enqueue_rate_median"].items())
    print(f"enqueue (render+build+insert via outbox.enqueue_many), emails/s: {rates}")
    parts = report.get("enqueue_ms_median") or {}
    if parts:
        print("  per email: " + ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items()))
    for name, lat in report["first_delivery_ms"].items():
        print(f"first delivery, {name}: p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms")
    t = report["send_test_email_ms"]
    print(f"sendTestEmail over GraphQL: p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms")
    rss = report["worker_rss"]
    print(
        f"worker peak RSS draining {rss['queued_rows']} queued rows ({rss['database']}): "
        f"{rss['peak_rss_mb']:.0f} MB"
    )
    if "auth_compare" in report:
        a = report["auth_compare"]
        rounds = ", ".join(f"{r:.3f}" for r in a["xoauth2_vs_plain_per_round"])
        print(
            f"AUTH PLAIN {a['plain_rate']['median']:.0f} msg/s, XOAUTH2 "
            f"{a['xoauth2_rate']['median']:.0f} msg/s: XOAUTH2/PLAIN per round {rounds} "
            f"(median {a['xoauth2_vs_plain_median']:.3f}); {a['token_requests']} token "
            f"request(s), AUTHs {a['auths']}"
        )
    for name, ok in report["targets"].items():
        print(f"  target {name}: {'holds' if ok else 'MISSED'}")
