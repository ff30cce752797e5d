"""`bench ab --smoke`: this checkout's drain against a revision's, both sides really measured.

Not a performance test: HEAD against HEAD, SQLite, 300 messages; the figures only have to be
there and the two sides' sitemail has to come from their own trees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ab_benchmark_smoke_measures_both_sides(tmp_path: Path) -> None:
    out = tmp_path / "ab.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SITEMAIL_DATA_DIR")}
    cmd = [sys.executable, "-m", "bench", "ab", "--smoke", "--base", "HEAD", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    report = json.loads(out.read_text())
    sqlite = report["sqlite"]
    for side in ("main", "base"):
        (run,) = sqlite[side]["runs"]
        assert run["rate"] > 0 and run["per_cpu_s"] > 0 and run["worker_us"] > 0, run
    assert sqlite["per_cpu_s_ratio"] > 0
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "sitemail-ab-" not in worktrees.stdout  # the base's checkout is gone again


def test_ab_benchmark_refuses_an_unknown_revision(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench", "ab", "--smoke", "--base", "no-such-rev-1234"]
    cmd += ["--json", str(tmp_path / "ab.json")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a revision" in proc.stderr, proc.stderr
