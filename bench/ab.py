"""`python -m bench ab --base REV`: this checkout's worker against another revision's, draining
the same queue in interleaved rounds, on SQLite and on PostgreSQL: msg/s and messages per
CPU-second of the worker plus the database.

The other revision is checked out into a temporary `git worktree`; its `src` goes first on the
children's PYTHONPATH, and this checkout's bench children drive both. On PostgreSQL each side
gets a database of its own (`<db>_ab_<side>`): the two may migrate differently.
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
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench import sysinfo
from bench.dbcpu import NoDb, PgBackendCpu
from bench.delivery import (
    ROOT,
    add_worker_arguments,
    child_env,
    postgres_reachable,
    run_workers,
)
from bench.sink import Sink


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="c8978cb", help="the revision to compare with (c8978cb)")
    p.add_argument("--n", type=int, default=20000, help="messages per drain (20000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite: checks it runs")
    p.add_argument("--json", default="bench-ab.json", help="where to write the results")
    add_worker_arguments(p, "a PostgreSQL server the benchmark may create and empty databases on")


def _side_url(url: str, side: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=f"{parsed.path.rstrip('/')}_ab_{side}").geturl()


def _sitemail_of(env: dict[str, str]) -> str:
    """Where the children import sitemail from: the check that the side is what it says."""
    out = subprocess.run(
        [sys.executable, "-c", "import sitemail; print(sitemail.__file__)"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _env(db: str, side: str, src: Path, workdir: Path) -> dict[str, str]:
    env = child_env(db, workdir / side)
    env["PYTHONPATH"] = str(src) + os.pathsep + env["PYTHONPATH"]
    found = _sitemail_of(env)
    if not found.startswith(str(src)):
        raise RuntimeError(f"side {side}: sitemail imported from {found}, not {src}")
    return env


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = ("rate", "per_cpu_s", "worker_us", "db_us")
    return {
        k: {
            "median": statistics.median(r[k] for r in runs),
            "min": min(r[k] for r in runs),
            "max": max(r[k] for r in runs),
        }
        for k in keys
    } | {"runs": runs}


def _measure(
    opts: argparse.Namespace, sides: dict[str, Path], work: Path
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Every round: each database, each side; one drain each."""
    dbs = ["sqlite"]
    if not opts.no_postgres and postgres_reachable(opts.postgres_url):
        if all(postgres_reachable(_side_url(opts.postgres_url, s)) for s in sides):
            dbs.append("postgresql")
    urls = {
        (db, s): _side_url(opts.postgres_url, s) if db == "postgresql" else "sqlite"
        for db in dbs
        for s in sides
    }
    # Each side's environment once: checking where it imports sitemail from starts a Python.
    envs = {(db, s): _env(urls[db, s], s, src, work) for db in dbs for s, src in sides.items()}
    results: dict[str, dict[str, list[dict[str, float]]]] = {db: {} for db in dbs}
    sink = Sink()
    try:
        for r in range(opts.rounds):
            for db in dbs:
                for side in sides:
                    meter = PgBackendCpu(urls[db, side]) if db == "postgresql" else NoDb()
                    fig = run_workers(sink, envs[db, side], 1, opts, opts.n, db=meter)
                    cpu = fig["client_cpu"] + fig["db_cpu"]
                    row = {
                        "rate": fig["rate"],
                        "per_cpu_s": opts.n / cpu,
                        "worker_us": fig["client_cpu"] / opts.n * 1e6,
                        "db_us": fig["db_cpu"] / opts.n * 1e6,
                    }
                    results[db].setdefault(side, []).append(row)
                    shown = ", ".join(f"{k} {v:,.1f}" for k, v in row.items())
                    print(f"round {r} {db} {side}: {shown}", flush=True)
    finally:
        sink.stop()
    return results


def run(opts: argparse.Namespace) -> int:
    if opts.smoke:
        opts.n, opts.rounds, opts.no_postgres = 300, 1, True
    opts.service = min(opts.n, 2000)  # enqueued through the service, the rest copied in SQL
    rev = subprocess.run(
        ["git", "rev-parse", "--short", opts.base], cwd=ROOT, capture_output=True, text=True
    )
    if rev.returncode != 0:
        print(f"bench ab: {opts.base!r} is not a revision of this repository", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sitemail-ab-"))
    tree = work / "base-tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), opts.base],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        results = _measure(opts, {"main": ROOT / "src", "base": tree / "src"}, work)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True
        )
        shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "machine": sysinfo.describe(),
        "base": rev.stdout.strip(),
        "n": opts.n,
        "rounds": opts.rounds,
        "concurrency": opts.concurrency,
        "batch_size": opts.batch_size,
    }
    for db, by_side in results.items():
        summary = {side: _summary(runs) for side, runs in by_side.items()}
        ratio = summary["main"]["per_cpu_s"]["median"] / summary["base"]["per_cpu_s"]["median"]
        report[db] = summary | {"per_cpu_s_ratio": ratio}
        print(f"{db}: main {ratio:.2f}x base's messages per CPU-second (medians)")
    Path(opts.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0
