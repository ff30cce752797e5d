"""`bench scale --smoke`: the 1M-row instrument runs end to end on a small table and reports
every figure (drain rates, each admin path's time and plan, the retention sweep).

Not a performance test. SQLite always; on the PostgreSQL run also PostgreSQL, in the suite's
database (the bench empties its outbox table there; pytest's own database is test_<name>).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATHS = {
    "/metrics scrape",
    "email log, first page",
    "email log, recipient (case-insensitive)",
    "email log, status=failed",
    "email log, status=queued",
    "email log, status=sent",
    "email log, kind",
    "admin banner",
}


def test_scale_benchmark_smoke_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SITEMAIL_DATA_DIR")}
    cmd = [sys.executable, "-m", "bench", "scale", "--smoke", "--json", str(out)]
    cmd += ["--workdir", str(tmp_path / "work")]
    pg = os.environ.get("SITEMAIL_TEST_POSTGRES") == "1"
    if pg:
        cmd += [
            "--postgres-url",
            os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test",
        ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    report = json.loads(out.read_text())
    size = report["parameters"]
    assert set(report["databases"]) == ({"SQLite", "PostgreSQL"} if pg else {"SQLite"})
    for db, r in report["databases"].items():
        assert r["fill"]["rows"] == size["rows"]
        by_status = r["fill"]["by_status"]
        assert by_status["queued"] == size["queued"] and sum(by_status.values()) == size["rows"]
        assert by_status["sent"] > by_status["failed"] > 0
        for name, drain in r["drain"].items():
            assert drain["messages"] == size["queued"], (db, name)
            assert drain["rate"] > 0 and drain["msg_per_cpu_s"] > 0, (db, name)
        assert r["drain_vs_empty"] > 0
        # The sweep beside the worker removed exactly the bodies past retention.
        assert r["retention"]["purged"] == size["expired"]
        assert set(r["queries"]) == PATHS
        for name, q in r["queries"].items():
            assert q["ms"] > 0 and q["queries"], (db, name)
            assert all(s["plan"] for s in q["queries"]), (db, name)
        # Every filter found rows (the case-changed recipient included).
        for name in PATHS - {"/metrics scrape", "admin banner"}:
            assert r["queries"][name]["rows"] > 0, (db, name)
    if pg:
        plans = report["databases"]["PostgreSQL"]["queries"]
        assert any("Execution Time" in line for line in plans["admin banner"]["queries"][0]["plan"])
    assert "retention sweep:" in proc.stdout
