"""`bench peers --smoke`: sitemail and every peer run end to end and report positive figures.

Not a performance test: it checks the instrument works. It needs what CI has: Postfix's
smtp-sink (scripts/test-deps.sh), Redis at 127.0.0.1:6379 (the bench starts redis-server when
nothing answers) and the `bench` extra. On the PostgreSQL run it also measures PostgreSQL, in
the suite's database (the bench uses its own schemas there; pytest's is test_<name>).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = {"sitemail", "django-post-office", "django-mailer", "Celery + Redis", "plain Django"}
QUEUES = SYSTEMS - {"plain Django"}  # plain Django sends at once: no enqueue figure


def _postgres_url() -> str | None:
    if os.environ.get("SITEMAIL_TEST_POSTGRES") != "1":
        return None
    return os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"


def test_peers_benchmark_smoke_reports_every_peer(tmp_path: Path) -> None:
    out = tmp_path / "peers.json"
    pg = _postgres_url()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SITEMAIL_DATA_DIR")}
    cmd = [sys.executable, "-m", "bench", "peers", "--smoke", "--json", str(out)]
    cmd += ["--workdir", str(tmp_path / "work")]
    if pg:
        cmd += ["--postgres-url", pg]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    report = json.loads(out.read_text())
    rows = report["results"]
    databases = {"SQLite", "Redis", "none", "SQLite+rtt", "rtt"} | ({"PostgreSQL"} if pg else set())
    assert {r["database"] for r in rows} == databases
    for database in ("SQLite", "SQLite+rtt", *(("PostgreSQL",) if pg else ())):
        assert {r["system"] for r in rows if r["database"] == database} == {
            "sitemail",
            "django-post-office",
            "django-mailer",
        }
    assert {r["system"] for r in rows} == SYSTEMS
    for row in rows:
        assert row["rate"]["median"] > 0, row["name"]
        assert row["msg_per_cpu_s"]["median"] > 0, row["name"]
        assert row["worker_cpu_s"] > 0, row["name"]
        (run,) = row["runs"]
        assert run["messages"] == report["parameters"]["rtt" if "rtt" in row["database"] else "n"]
        if row["system"] in QUEUES:
            assert row["enqueue_rate"]["median"] > 0, row["name"]
            assert row["enqueue_cpu_ms"] > 0, row["name"]
        else:
            assert "enqueue_rate" not in row
    # The database's CPU is counted where it is a separate process.
    assert sum(r["db_cpu_s"] for r in rows if r["database"] in ("Redis", "rtt")) > 0
    if pg:  # per backend, in clock ticks: 30 emails may cost some backends less than one
        assert sum(r["db_cpu_s"] for r in rows if r["database"] == "PostgreSQL") > 0, rows
    assert report["parameters"]["message_bytes"] > 4000
    assert set(report["peers"]) == SYSTEMS
    assert "SQLite" in report["sitemail_vs_best_peer"]
    assert "sitemail / best peer, SQLite" in proc.stdout
