"""`python -m bench monitors`: one code monitor trigger run over N new commits next to git itself.

A repository is built with `git fast-import` (a root commit, then N commits that edit a few of
300 source files each; about 1% add a TODO line, 2% say "Fix" in their message). sitemail mirrors
it while it has only the root commit, monitors are created (their baseline is the root), then the
N commits land and the mirror is fetched. Each round resets the monitors to the baseline and
times, in the same process and on the same mirror:

  sitemail  runner.run_monitor(): ref tips, the range, the search, the run log in the database
  git       `git log -G<ere> --format=%H root..main` (diff) / `git log --grep` (commit)

Round 0 is a warm-up and discarded; medians (and min-max) of the rest are reported with the ratio
sitemail / git. The target is at most 1.5x for patterns git can evaluate (literal and POSIX-safe
regexps); a Python-only regexp (\\b, \\d, ...) is reported too, as the fallback's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import sysinfo

FILES = 300
LINES = 40
TARGET = 1.5

# (label, monitor query, git log arguments that answer the same question)
CASES: list[tuple[str, str, list[str]]] = [
    ("diff literal", "type:diff TODO", ["-G", "TODO", "-i"]),
    ("diff regexp (ERE)", "type:diff patternType:regexp TODO|FIXME", ["-G", "TODO|FIXME", "-i"]),
    ("diff case:yes", "type:diff case:yes revisit", ["-G", "revisit"]),
    ("commit literal", "type:commit fix", ["--grep", "fix", "-F", "-i"]),
    (
        "commit author",
        "type:commit author:carol fix",
        ["--grep", "fix", "-F", "-i", "--author", "carol"],
    ),
    ("diff regexp (Python-only)", r"type:diff patternType:regexp \bTODO\b", ["-G", "TODO", "-i"]),
]
AUTHORS = [
    "Alice Dev <alice@example.com>",
    "Bob Ops <bob@example.com>",
    "Carol QA <carol@example.com>",
]


def _git(*args: str, cwd: Path, input: bytes | None = None) -> bytes:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(
        ["git", *args], cwd=cwd, input=input, env=env, check=True, capture_output=True
    ).stdout


def _line(rng: random.Random) -> str:
    a, b, c = rng.randrange(1000), rng.randrange(1000), rng.randrange(100)
    return f"    value_{a} = compute_{b}(items[{c}], limit={a + b})\n"


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def build_history(repo: Path, n: int, seed: int = 7) -> None:
    """Append n commits to `main` with git fast-import (fast and deterministic)."""
    rng = random.Random(seed)
    files = {f"src/module_{i:03d}.py": [_line(rng) for _ in range(LINES)] for i in range(FILES)}
    out: list[bytes] = []
    ts = 1_700_000_000
    for i in range(n):
        name, _, email = rng.choice(AUTHORS).partition(" <")
        touched = rng.sample(sorted(files), rng.randint(1, 3))
        for path in touched:
            lines = files[path]
            for _ in range(rng.randint(1, 4)):
                lines[rng.randrange(len(lines))] = _line(rng)
            if rng.random() < 0.01:
                lines.insert(rng.randrange(len(lines)), f"    # TODO: revisit {i}\n")
        verb = "Fix" if rng.random() < 0.02 else rng.choice(["Update", "Refactor", "Tune"])
        message = f"{verb} {touched[0]} ({i})\n"
        who = f"{name} <{email.rstrip('>')}> {ts + i * 60} +0000"
        out.append(b"commit refs/heads/main\n")
        out.append(f"author {who}\ncommitter {who}\n".encode())
        out.append(_data(message))
        if i == 0:
            out.append(b"from refs/heads/main^0\n")
        for path in touched:
            out.append(f"M 100644 inline {path}\n".encode())
            out.append(_data("".join(files[path])))
        out.append(b"\n")
    _git("fast-import", "--quiet", cwd=repo, input=b"".join(out))
    _git("reset", "-q", "--hard", "main", cwd=repo)


def _setup_django(data_dir: Path) -> None:
    os.environ["SITEMAIL_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "sitemail.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (git), user + system."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def run(args: argparse.Namespace) -> int:
    n = 300 if args.smoke else args.commits
    rounds = 1 if args.smoke else args.rounds
    with tempfile.TemporaryDirectory(prefix="bench-monitors-") as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        _git("init", "-q", "-b", "main", cwd=src)
        (src / "README.md").write_text("# bench\n")
        _git("add", "README.md", cwd=src)
        _git(
            "-c",
            "user.name=Root",
            "-c",
            "user.email=root@example.com",
            "commit",
            "-q",
            "-m",
            "Root",
            cwd=src,
        )
        _setup_django(root / "data")

        from sitemail.accounts.users import create_user
        from sitemail.monitors import repos, runner, service
        from sitemail.monitors.models import CodeMonitor, RepoState

        repo = repos.add(str(src), "bench/repo")
        owner = create_user("bench", "bench@example.com")
        monitors: list[CodeMonitor] = []
        for label, query, _ in CASES:
            action = service.ActionSpec(type="email", recipients=[owner.pk], include_results=True)
            spec = service.MonitorSpec(description=label, query=query, actions=[action])
            monitors.append(service.create(owner, owner.pk, spec))
        baseline = {m.pk: dict(RepoState.objects.get(monitor=m).tips) for m in monitors}

        t0 = time.perf_counter()
        build_history(src, n)
        build_s = time.perf_counter() - t0
        assert repos.fetch(repo)
        mirror = Path(repo.mirror_path)
        root_sha = _git("rev-list", "--max-parents=0", "main", cwd=src).decode().strip()
        span = f"{root_sha}..main"
        new = int(_git("--git-dir", str(mirror), "rev-list", "--count", span, cwd=root).strip())
        assert new == n, (new, n)

        rows: list[dict[str, Any]] = []
        for monitor, (label, query, git_args) in zip(monitors, CASES, strict=True):
            wall: dict[str, list[float]] = {"sitemail": [], "git": []}
            cpu: dict[str, list[float]] = {"sitemail": [], "git": []}
            found = expected = 0
            for r in range(rounds + 1):
                RepoState.objects.filter(monitor=monitor).update(tips=baseline[monitor.pk])
                t, c = time.perf_counter(), _cpu()
                trigger = runner.run_monitor(monitor)
                ours = (time.perf_counter() - t, _cpu() - c)
                assert trigger.commits_scanned == n, trigger.message
                t, c = time.perf_counter(), _cpu()
                out = _git(
                    "--git-dir", str(mirror), "log", "--format=%H", *git_args, span, cwd=root
                )
                theirs = (time.perf_counter() - t, _cpu() - c)
                if r:  # round 0 warms caches
                    for who, (w, u) in (("sitemail", ours), ("git", theirs)):
                        wall[who].append(w)
                        cpu[who].append(u)
                found, expected = trigger.result_count, len(out.split())
            row: dict[str, Any] = {
                "case": label,
                "query": query,
                "git": "git log " + " ".join(git_args),
                "results": found,
                "git_results": expected,
            }
            for who in ("sitemail", "git"):
                row[f"{who}_s"] = _median(wall[who])
                row[f"{who}_range_s"] = [min(wall[who]), max(wall[who])]
                row[f"{who}_cpu_s"] = _median(cpu[who])
            row["ratio"] = row["sitemail_s"] / row["git_s"]
            row["cpu_ratio"] = row["sitemail_cpu_s"] / max(row["git_cpu_s"], 0.01)
            rows.append(row)

    print(f"code monitor trigger run over {n} new commits ({rounds} rounds; build {build_s:.1f}s)")
    print(
        f"{'case':26} {'results':>9} {'sitemail':>9} {'git':>8} {'ratio':>6}"
        f"   {'CPU sitemail':>12} {'git':>7} {'ratio':>6}"
    )
    for row in rows:
        flag = "" if row["ratio"] <= TARGET or "Python-only" in row["case"] else "  > target"
        print(
            f"{row['case']:26} {row['results']:>4}/{row['git_results']:<4} "
            f"{row['sitemail_s'] * 1000:>7.0f}ms {row['git_s'] * 1000:>6.0f}ms "
            f"{row['ratio']:>5.2f}x   {row['sitemail_cpu_s'] * 1000:>10.0f}ms "
            f"{row['git_cpu_s'] * 1000:>5.0f}ms {row['cpu_ratio']:>5.2f}x{flag}"
        )
    report = {"commits": n, "rounds": rounds, "system": sysinfo.describe(), "cases": rows}
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--commits", type=int, default=10000, help="new commits scanned (10000)")
    p.add_argument("--rounds", type=int, default=5, help="measured rounds after a warm-up (5)")
    p.add_argument("--smoke", action="store_true", help="300 commits, 1 round: checks it runs")
    p.add_argument("--json", default="bench-monitors.json", help="where to write the results")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.monitors")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
