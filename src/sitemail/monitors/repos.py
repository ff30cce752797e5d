"""Repository services: add (clone a bare mirror into the data dir), list, fetch on a schedule."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.db import IntegrityError
from django.utils import timezone

from sitemail.monitors import git
from sitemail.monitors.models import Repository

log = logging.getLogger(__name__)

DEFAULT_FETCH_INTERVAL = 60
_NAME_OK = re.compile(r"^[A-Za-z0-9._\-/]{1,255}$")


class RepoError(ValueError):
    """A user-facing problem adding or fetching a repository."""


def fetch_interval() -> timedelta:
    from sitemail.siteconfig import service as siteconfig

    value = siteconfig.get_settings().raw.get("repos.fetchInterval", DEFAULT_FETCH_INTERVAL)
    return timedelta(seconds=value if isinstance(value, int | float) else DEFAULT_FETCH_INTERVAL)


def mirrors_root() -> Path:
    return Path(django_settings.DATA_DIR) / "repos"


def _is_url(source: str) -> bool:
    return "://" in source or re.match(r"^[\w.-]+@[\w.-]+:", source) is not None


def default_name(source: str) -> str:
    """`github.com/org/repo` for a clone URL, the directory name for a local path."""
    if _is_url(source):
        parts = (
            urlsplit(source)
            if "://" in source
            else urlsplit("ssh://" + source.replace(":", "/", 1))
        )
        host = parts.hostname or ""
        name = f"{host}/{parts.path.strip('/')}" if host else parts.path.strip("/")
    else:
        name = Path(source).name
    name = re.sub(r"\.git$", "", name.rstrip("/"))
    return re.sub(r"[^A-Za-z0-9._\-/]", "-", name).strip("/") or "repo"


def add(source: str, name: str | None = None) -> Repository:
    """Clone `source` (a local path or clone URL) as a bare mirror and register it."""
    source = source.strip()
    if not source:
        raise RepoError("url: give a local path or a clone URL")
    if not _is_url(source):
        path = Path(source).expanduser().resolve()
        if not path.exists():
            raise RepoError(f"url: {source!r} is neither an existing local path nor a clone URL")
        source = str(path)
    name = name or default_name(source)
    if not _NAME_OK.match(name) or ".." in name:
        raise RepoError(f"name: {name!r} is invalid; use letters, digits, '.', '_', '-' and '/'")
    if Repository.objects.filter(name=name).exists():
        raise RepoError(f"name: a repository named {name!r} already exists")
    root = mirrors_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{name.replace('/', '__')}.git"
    # Clone next to the target, then move it in: a failed clone leaves nothing behind.
    tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=root))
    try:
        git.clone_mirror(source, tmp / "mirror.git")
        if target.exists():
            shutil.rmtree(target)
        (tmp / "mirror.git").rename(target)
    except git.GitError as exc:
        raise RepoError(f"cannot clone {source!r}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    now = timezone.now()
    try:
        return Repository.objects.create(
            name=name,
            url=source,
            mirror_path=str(target),
            next_fetch_at=now + fetch_interval(),
            last_fetched_at=now,
        )
    except IntegrityError as exc:
        raise RepoError(f"name: a repository named {name!r} already exists") from exc


def fetch(repo: Repository) -> bool:
    """Fetch one mirror now; records the outcome on the row. True on success."""
    now = timezone.now()
    try:
        git.fetch(Path(repo.mirror_path))
    except git.GitError as exc:
        log.warning("fetch %s failed: %s", repo.name, exc)
        Repository.objects.filter(pk=repo.pk).update(last_error=str(exc)[:2000])
        return False
    Repository.objects.filter(pk=repo.pk).update(last_fetched_at=now, last_error="")
    return True


def fetch_due(now: datetime | None = None) -> int:
    """Fetch every repository whose turn has come; each is claimed by one process only."""
    now = now or timezone.now()
    interval = fetch_interval()
    fetched = 0
    for repo in Repository.objects.filter(next_fetch_at__lte=now):
        claimed = Repository.objects.filter(pk=repo.pk, next_fetch_at=repo.next_fetch_at).update(
            next_fetch_at=now + interval
        )
        if claimed:
            fetched += fetch(repo)
    return fetched
