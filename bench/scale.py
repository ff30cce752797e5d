"""`python -m bench scale`: sitemail's costs at 1,000,000 outbox rows, next to an empty table.

Per database (PostgreSQL; SQLite with --sqlite, and always in --smoke):

  1. empty table: `queued` (100,000) rows queued, drained by one worker -> the base rate
  2. 1M rows (bulk SQL over the real table, bench.scale_child fill): the admin paths timed and
     their PostgreSQL plans recorded (/metrics, each email-log filter, the banner); then the
     `queued` backlog drained by one worker -> the rate at 1M
  3. the backlog queued again, drained while a retention sweep (purge_expired, in its own
     process) removes the bodies of the `expired` rows past email.log.retentionDays -> the rate
     beside retention, and the sweep's time

The worker's own hourly sweep is kept out of 1 and 2 (retentionDays set high). Rates are
queued / (last sent_at - start), CPU of the worker and of the database's backends as in
`bench peers`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import sysinfo
from bench.dbcpu import NoDb, PgBackendCpu
from bench.delivery import DEFAULT_PG, Meter, child_env, postgres_reachable, run_child
from bench.peers import collect, release, started
from bench.sink import MissingTool, Sink

TARGET_MS = 50


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the big table (1M)")
    p.add_argument("--queued", type=int, default=100_000, help="queued backlog (100,000)")
    p.add_argument("--expired", type=int, default=200_000, help="rows past retention (200,000)")
    p.add_argument("--smoke", action="store_true", help="3,000 rows: checks it runs")
    p.add_argument("--json", default="bench-scale.json", help="where to write the results")
    p.add_argument(
        "--postgres-url",
        default=None,
        help=f"a PostgreSQL database the run may empty (default: BENCH_DATABASE_URL or "
        f"{DEFAULT_PG}; with --smoke only when given)",
    )
    p.add_argument("--no-postgres", action="store_true", help="SQLite only (implies --sqlite)")
    p.add_argument("--sqlite", action="store_true", help="also on SQLite (a ~5 GB file at 1M)")
    p.add_argument("--concurrency", type=int, default=8, help="SMTP connections per worker")
    p.add_argument("--batch-size", type=int, default=100, help="rows per claim")
    p.add_argument("--workdir", help="data directories (default: a temporary directory)")


def _drain(
    env: dict[str, str], sink: Sink, n: int, opts: argparse.Namespace, pg: str | None,
    with_retention: bool = False,
) -> dict[str, Any]:  # fmt: skip
    worker_args = json.dumps({"concurrency": opts.concurrency, "batch_size": opts.batch_size})
    worker = started([sys.executable, "-m", "bench.child", "worker", worker_args], env)
    sweep = None
    if with_retention:
        sweep = started([sys.executable, "-m", "bench.scale_child", "retention", "{}"], env)
    meter = PgBackendCpu(pg) if pg else NoDb()
    with Meter(sink) as m:
        meter.start()
        go = time.time()
        for proc in (worker, sweep):
            if proc is not None:
                release(proc)
        w = collect(worker)
        swept = collect(sweep) if sweep is not None else None
        meter.stop()
    if w["sent"] != n or w["failed"]:
        raise RuntimeError(f"the worker sent {w['sent']} of {n}: {w}")
    seconds = w["last_sent_at"] - go
    cpu = w["cpu"] + meter.cpu
    fig: dict[str, Any] = {
        "rate": n / seconds,
        "seconds": seconds,
        "messages": n,
        "worker_cpu": w["cpu"],
        "db_cpu": meter.cpu,
        "msg_per_cpu_s": n / cpu if cpu > 0 else 0.0,
        "machine_cores": m.machine_cores,
    }
    if swept is not None:
        fig["retention"] = swept
    return fig


def _one_database(
    label: str, env: dict[str, str], sink: Sink, size: dict[str, int], opts: argparse.Namespace,
    pg: str | None,
) -> dict[str, Any]:  # fmt: skip
    q = size["queued"]
    port = {"port": sink.port}
    print(f"{label}: empty table, {q} queued", file=sys.stderr)
    run_child("fill", {**port, "total": q, "queued": q, "expired": 0}, env, "bench.scale_child")
    empty = _drain(env, sink, q, opts, pg)
    print(f"{label}: filling {size['rows']} rows", file=sys.stderr)
    fill = run_child("fill", {**port, "total": size["rows"], "queued": q,
                               "expired": size["expired"]}, env, "bench.scale_child")  # fmt: skip
    print(f"{label}: admin paths", file=sys.stderr)
    # An address that is in the table (case changed: the filter is case-insensitive).
    who = f"USER{min(4242, size['rows'] // 2)}@Example.COM"
    queries = run_child("measure", {"kind": "django", "recipient": who, "repeat": size["repeat"]},
                        env, "bench.scale_child")  # fmt: skip
    print(f"{label}: drain at {size['rows']} rows", file=sys.stderr)
    big = _drain(env, sink, q, opts, pg)
    run_child("requeue", {"queued": q}, env, "bench.scale_child")
    print(f"{label}: drain at {size['rows']} rows beside a retention sweep", file=sys.stderr)
    swept = _drain(env, sink, q, opts, pg, with_retention=True)
    return {
        "fill": fill,
        "drain": {"empty table": empty, "big table": big, "big table + retention": swept},
        "drain_vs_empty": big["rate"] / empty["rate"],
        "drain_with_retention_vs_empty": swept["rate"] / empty["rate"],
        "drain_cpu_vs_empty": big["msg_per_cpu_s"] / empty["msg_per_cpu_s"],
        "retention": swept["retention"],
        "queries": queries,
        "over_target": [k for k, v in queries.items() if v["ms"] > TARGET_MS],
    }


def run(opts: argparse.Namespace) -> int:
    smoke = opts.smoke
    size = (
        {"rows": 3000, "queued": 300, "expired": 600, "repeat": 2}
        if smoke
        else {"rows": opts.rows, "queued": opts.queued, "expired": opts.expired, "repeat": 5}
    )
    pg = opts.postgres_url or (None if smoke else os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    if opts.no_postgres:
        pg = None
    if pg is not None and not postgres_reachable(pg):
        print(f"error: PostgreSQL not reachable at {pg} (or --no-postgres)", file=sys.stderr)
        return 2
    workdir = Path(opts.workdir or tempfile.mkdtemp(prefix="sitemail-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        sink = Sink()
    except MissingTool as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started, machine = time.time(), sysinfo.describe()
    results: dict[str, Any] = {}
    try:
        if smoke or opts.sqlite or pg is None:
            env = child_env("sqlite", workdir)
            results["SQLite"] = _one_database("SQLite", env, sink, size, opts, None)
        if pg is not None:
            results["PostgreSQL"] = _one_database(
                "PostgreSQL", child_env(pg, workdir), sink, size, opts, pg
            )
    finally:
        sink.stop()
        if not opts.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "benchmark": "scale",
        "smoke": smoke,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started,
        "machine": machine,
        "loadavg_at_end": os.getloadavg(),
        "parameters": {**size, "concurrency": opts.concurrency, "batch_size": opts.batch_size},
        "target_ms": TARGET_MS,
        "databases": results,
    }
    Path(opts.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    _print(report)
    print(f"\nwritten: {opts.json}")
    return 0


def _print(report: dict[str, Any]) -> None:
    m, p = report["machine"], report["parameters"]
    print(
        f"\nsitemail at scale: {m['cpus']} CPUs, load {m['loadavg_at_start'][0]:.2f} -> "
        f"{report['loadavg_at_end'][0]:.2f}; {p['rows']} rows, {p['queued']} queued, "
        f"{p['expired']} past retention"
    )
    for db, r in report["databases"].items():
        print(f"\n{db} (filled in {r['fill']['fill_seconds']:.1f} s)")
        for name, d in r["drain"].items():
            print(
                f"  drain, {name:24} {d['rate']:8.0f} msg/s  {d['msg_per_cpu_s']:7.0f} msg/CPU-s"
                f"  (worker {d['worker_cpu']:.2f} s, db {d['db_cpu']:.2f} s)"
            )
        print(
            f"  big / empty: {r['drain_vs_empty']:.2f}x rate, {r['drain_cpu_vs_empty']:.2f}x "
            f"msg/CPU-s; beside retention {r['drain_with_retention_vs_empty']:.2f}x"
        )
        ret = r["retention"]
        print(f"  retention sweep: {ret['purged']} bodies in {ret['seconds']:.2f} s")
        for name, q in r["queries"].items():
            flag = "  > target" if q["ms"] > report["target_ms"] else ""
            print(f"  {name:42} {q['ms']:8.1f} ms ({len(q['queries'])} queries){flag}")
