"""The delivery benchmark's smoke run: it runs end to end and reports every figure.

Not a performance test (CI machines vary): it checks the benchmark still works. smtp-sink and
smtp-source (Debian `postfix`) must be installed; a missing tool fails, never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_delivery_benchmark_smoke_runs_and_reports(tmp_path: Path) -> None:
    for tool in ("smtp-sink", "smtp-source"):
        assert shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin"), (
            f"{tool} is missing: apt-get install -y postfix (see .ci/run)"
        )
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SITEMAIL_DATA_DIR")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "delivery",
            "--smoke",
            "--auth-compare",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    names = [r["name"] for r in report["results"]]
    assert names[:4] == [
        "smtp-source limit (16 sessions, reused)",
        "smtp-source, new connection per message",
        "Python smtplib+EmailMessage, new connection per message",
        "sitemail worker, SQLite, 1 process",
    ]
    for row in report["results"]:
        assert row["rate"]["median"] > 0 and row["vs_limit"] > 0, row
    sqlite = report["results"][3]
    # Every pre-enqueued message went through smtp-sink, none failed (checked in the run).
    assert sqlite["runs"][0]["messages"] == report["parameters"]["n"]
    assert report["enqueue_rate_median"]["SQLite"] > 0
    assert report["send_test_email_ms"]["count"] == 5
    assert report["worker_rss"]["peak_rss_mb"] > 0
    (fd,) = report["first_delivery_ms"].values()
    assert fd["count"] == 3 and fd["p50"] < 5000
    assert "sitemail worker, SQLite, 1 process" in proc.stdout
    # PLAIN and XOAUTH2 through the AUTH front: every message authenticated, one token.
    auth = report["auth_compare"]
    assert auth["plain_rate"]["median"] > 0 and auth["xoauth2_rate"]["median"] > 0
    assert auth["token_requests"] == 1 and auth["auths"]["refused"] == 0
    assert auth["auths"]["XOAUTH2"] >= 1 and auth["auths"]["PLAIN"] >= 1
    assert set(report["targets"]) >= {
        "sqlite_vs_limit >= 0.20",
        "enqueue >= 2000/s (each database)",
    }


def test_dkim_enqueue_benchmark_smoke_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "dkim.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SITEMAIL_DATA_DIR")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "dkim", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["enqueue_rate"]) == {"off", "rsa-sha256 2048", "ed25519-sha256"}
    assert all(v["median"] > 0 for v in report["enqueue_rate"].values())
    assert "enqueue, DKIM rsa-sha256 2048:" in proc.stdout
