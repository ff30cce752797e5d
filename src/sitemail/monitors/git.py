"""git command line access: bare mirrors, fetches, ref tips and `git log` streams (no shell)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

GIT = "git"
TIMEOUT = 600  # seconds; a first clone of a large repository can take minutes

# Never prompt for credentials or read the user's global config and hooks: sitemail runs as a
# service, and a prompt would hang the trigger loop.
_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_ASKPASS": "",
    "LC_ALL": "C",
}
_FULL_ENV = {**os.environ, **_ENV}
# Same diff output whatever the repository's config says.
_CONFIG = ("-c", "core.quotePath=false", "-c", "color.ui=never", "-c", "diff.noprefix=false")


class GitError(RuntimeError):
    """A git command failed; the message holds the command's stderr."""


def run(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    git_dir: str | Path | None = None,
    input: bytes | None = None,
    timeout: float = TIMEOUT,
    ok_codes: Iterable[int] = (0,),
) -> bytes:
    cmd = [GIT, *_CONFIG]
    if git_dir is not None:
        cmd += ["--git-dir", str(git_dir)]
    cmd += list(args)
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd,
            cwd=cwd,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=_FULL_ENV,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]}: timed out after {timeout:.0f}s") from exc
    if proc.returncode not in tuple(ok_codes):
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {args[0]}: {err or f'exit status {proc.returncode}'}")
    return proc.stdout


class Running:
    """A git command started in the background (to overlap with another one)."""

    def __init__(self, args: Sequence[str], *, git_dir: str | Path, input: bytes) -> None:
        self.name = args[0]
        # stdin from a file: the command starts working now, not when we collect its output.
        with tempfile.TemporaryFile() as stdin:
            stdin.write(input)
            stdin.seek(0)
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [GIT, *_CONFIG, "--git-dir", str(git_dir), *args],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_FULL_ENV,
            )

    def result(self, timeout: float = TIMEOUT) -> bytes:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.communicate()
            raise GitError(f"git {self.name}: timed out after {timeout:.0f}s") from exc
        if self.proc.returncode != 0:
            text = err.decode("utf-8", "replace").strip()
            raise GitError(f"git {self.name}: {text or f'exit status {self.proc.returncode}'}")
        return out


def clone_mirror(url: str, path: Path) -> None:
    """A bare mirror of `url` at `path` (local paths and file:// URLs need no network)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["clone", "--mirror", "--quiet", "--", url, str(path)])
    # Never collect garbage in a mirror: after a force push the previously seen tips must stay
    # resolvable, since they are what excludes already-notified history from the next run.
    run(["config", "gc.auto", "0"], git_dir=path)
    # A commit-graph makes history walks (the range of new commits, its size) cheap; fetches
    # keep it up to date incrementally.
    run(["config", "fetch.writeCommitGraph", "true"], git_dir=path)
    run(["commit-graph", "write", "--reachable", "--split"], git_dir=path)


def fetch(path: Path) -> None:
    # --prune: deleted branches disappear from the mirror; --force: force pushes are taken.
    run(["fetch", "--prune", "--force", "--quiet", "origin"], git_dir=path)


def tips(path: Path) -> dict[str, str]:
    """refname -> commit sha for branches and tags (tags peeled to their commit)."""
    out = run(
        [
            "for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(*objectname)",
            "refs/heads",
            "refs/tags",
        ],
        git_dir=path,
    )
    result: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        ref, obj, peeled = line.split("\0")
        result[ref] = peeled or obj
    return result


def existing(path: Path, shas: Iterable[str]) -> set[str]:
    """The commits among `shas` still in the repository (a force push may have let git gc
    remove the old ones)."""
    wanted = sorted(set(shas))
    if not wanted:
        return set()
    out = run(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        git_dir=path,
        input=("\n".join(wanted) + "\n").encode(),
    )
    found = set()
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "commit":
            found.add(parts[0])
    return found
