"""Run a parsed query over a range of commits of one repository.

git does the heavy part: `git log -G<ere>` (diffs) or `--grep` (messages) selects candidate
commits whenever the pattern has an exact POSIX ERE equivalent, so only matching commits' patches
are produced; Python then applies the exact query (author:, message:, the pattern per line) to
those with RE2 (monitors/regex.py). Patterns with RE2-only syntax fall back to reading every patch.
Every search may carry a deadline (monotonic seconds): git is killed at it and the matching loop
stops at it, so no query holds a worker thread for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitemail.monitors import git
from sitemail.monitors.query import Query
from sitemail.monitors.regex import Matcher

MAX_LINES_PER_RESULT = 5
_FORMAT = "--format=%x00%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x00"


class SearchTimeout(RuntimeError):
    """The search ran past its time limit."""

    def __init__(self, limit: float) -> None:
        super().__init__(
            f"search timed out after {limit:g}s: narrow it with repo:, author: or a more "
            "specific pattern"
        )


def _remaining(deadline: float | None, limit: float) -> float:
    if deadline is None:
        return git.TIMEOUT
    left = deadline - time.monotonic()
    if left <= 0:
        raise SearchTimeout(limit)
    return left


@dataclass
class Result:
    """One matching commit and (for diffs) its matching added or removed lines."""

    repo: str
    commit: str
    author: str
    email: str
    date: str
    message: str
    lines: list[dict[str, str]] = field(default_factory=list)  # {path, line}
    line_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "commit": self.commit,
            "short": self.commit[:10],
            "author": self.author,
            "email": self.email,
            "date": self.date,
            "subject": self.message.split("\n", 1)[0],
            "message": self.message[:2000],
            "lines": self.lines,
            "lineCount": self.line_count,
        }


@dataclass(frozen=True)
class Range:
    """Commits reachable from `include` but not from `exclude` (or the newest `limit` of them)."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    limit: int | None = None

    def stdin(self) -> bytes:
        # `^sha` excludes a commit's history (`--not` on stdin needs git 2.42).
        lines = [*self.include, *(f"^{sha}" for sha in self.exclude)]
        return ("\n".join(lines) + "\n").encode()


def _count_args(rng: Range) -> list[str]:
    args = ["rev-list", "--count", "--stdin"]
    if rng.limit:
        args.append(f"--max-count={rng.limit}")
    return args


def count(path: Path, rng: Range) -> int:
    if not rng.include:
        return 0
    return int(git.run(_count_args(rng), git_dir=path, input=rng.stdin()).strip() or 0)


def _log_args(query: Query, rng: Range) -> list[str]:
    args = ["log", "--stdin", _FORMAT, "--no-color"]
    if rng.limit:
        args.append(f"--max-count={rng.limit}")
    if not query.case_sensitive:
        args.append("--regexp-ignore-case")
    ere = query.to_git_ere()
    if query.type == "diff":
        args += ["-p", "-U0", "--no-ext-diff", "--no-textconv"]
        if ere is not None:
            args.append(f"-G{ere}")
    elif ere is not None:
        args += ["--extended-regexp", f"--grep={ere}"]
    return args


def _records(out: bytes) -> Iterator[tuple[list[str], bytes]]:
    parts = out.split(b"\0")
    # parts: "", header, diff, header, diff, ...
    for i in range(1, len(parts) - 1, 2):
        header = parts[i].decode("utf-8", "replace").split("\x1f", 4)
        yield header, parts[i + 1]


def _diff_lines(diff: bytes, pattern: Matcher | None) -> Iterator[tuple[str, str]]:
    """(path, "+line" | "-line") for each changed line matching `pattern`."""
    path = ""
    in_hunk = False
    for raw in diff.split(b"\n"):
        if raw.startswith(b"diff --git "):
            in_hunk = False
            continue
        if not in_hunk:
            if raw.startswith(b"+++ "):
                target = raw[4:].decode("utf-8", "replace")
                path = target[2:] if target.startswith("b/") else target
            elif raw.startswith(b"--- ") and raw[4:] != b"/dev/null":
                source = raw[4:].decode("utf-8", "replace")
                path = source[2:] if source.startswith("a/") else source
            elif raw.startswith(b"@@"):
                in_hunk = True
            continue
        if raw.startswith(b"@@"):
            continue
        if raw[:1] in (b"+", b"-"):
            line = raw.decode("utf-8", "replace")
            # Like git -G: the pattern sees the line without its +/- sign, so ^ and $ anchor it.
            if pattern is None or pattern.search(line[1:]):
                yield path, line


@dataclass
class Outcome:
    results: list[Result]
    scanned: int  # commits in the range


def scan(
    path: Path, repo: str, query: Query, rng: Range, deadline: float | None = None, limit: float = 0
) -> Outcome:
    """The query's matches among the commits of `rng` (newest first) and the range's size.

    With a `deadline`, SearchTimeout(limit) once it passes (git itself is killed at it)."""
    if not rng.include:
        return Outcome([], 0)
    stdin = rng.stdin()
    counting = None
    if query.to_git_ere() is not None and not rng.limit:
        # git prints only matching commits: count the range in parallel, hiding its walk.
        counting = git.Running(_count_args(rng), git_dir=path, input=stdin)
    try:
        timeout = _remaining(deadline, limit)
        out = git.run(_log_args(query, rng), git_dir=path, input=stdin, timeout=timeout)
    except git.GitError:
        _remaining(deadline, limit)  # a kill at the deadline is a timeout, not a git failure
        raise
    finally:
        counted = counting.result() if counting is not None else b""
    pattern = query.pattern_regex()
    results: list[Result] = []
    records = 0
    for header, diff in _records(out):
        records += 1
        _remaining(deadline, limit)
        sha, author, email, date, message = header
        message = message.rstrip("\n")
        if query.author and not query.author_matches(author, email):
            continue
        if query.type == "commit":
            if pattern is not None and not pattern.search(message):
                continue
            results.append(Result(repo, sha, author, email, date, message))
            continue
        if query.message and not query.message_matches(message):
            continue
        lines = list(_diff_lines(diff, pattern))
        if not lines:
            continue
        shown = [{"path": p, "line": text} for p, text in lines[:MAX_LINES_PER_RESULT]]
        results.append(Result(repo, sha, author, email, date, message, shown, len(lines)))
    # With a limit (previews) `scanned` is only how many commits git printed.
    scanned = int(counted.strip() or 0) if counting is not None else records
    return Outcome(results, scanned)


def search(
    path: Path, repo: str, query: Query, rng: Range, deadline: float | None = None, limit: float = 0
) -> list[Result]:
    """The query's matches among the commits of `rng`, newest first."""
    return scan(path, repo, query, rng, deadline, limit).results
