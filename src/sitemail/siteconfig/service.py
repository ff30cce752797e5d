"""The site configuration service: the current version, typed settings and validated saves.

Storage: every save inserts a SiteConfigVersion row and the highest id is current. With
SITE_CONFIG_FILE set, that file is the source of truth (read-only here) and is never copied into
the database: a one-off command run with another file beside a database-mode server must not
change what that server reads. In file mode the version is an unsaved row whose id this process
increments whenever the file's contents change.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import transaction

from sitemail import transactions
from sitemail.siteconfig import jsonc, limits
from sitemail.siteconfig import redact as redaction
from sitemail.siteconfig.coerce import site_settings
from sitemail.siteconfig.defaults import DEFAULT_DOCUMENT
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.jsonc import PathElem, format_path
from sitemail.siteconfig.models import SiteConfigVersion
from sitemail.siteconfig.problems import Problem
from sitemail.siteconfig.typed import SiteSettings
from sitemail.siteconfig.validate import KNOWN_KEYS, validate

if TYPE_CHECKING:
    from sitemail.accounts.models import User

__all__ = [
    "CACHE_TTL",
    "SiteConfigError",
    "aget_settings",
    "clear_cache",
    "current",
    "effective_contents",
    "get_settings",
    "patch",
    "preview",
    "read_only",
    "update",
    "validation_messages",
    "validators",
]

log = logging.getLogger(__name__)

FILE_ENV = "SITE_CONFIG_FILE"
# How long get_settings trusts its cache before checking for a newer version (another process
# may have saved one). A save applies at once in the process that made it (update/patch clear
# the cache); other processes see it within this bound (README "Site configuration").
# `fresh=True` checks now (the test email does). Within a transaction, a check counts for that
# transaction only, and not past a rollback (see get_settings).
CACHE_TTL = 1.0
MAX_SIZE = 1_000_000  # characters; a site configuration is a few KB

Validator = Callable[[dict[str, Any]], list[str]]
# Extra checks other packages register (e.g. the SSO lockout safeguard). Each gets the parsed,
# unredacted document of a save that passed every other check and returns errors that block it.
validators: list[Validator] = []


def read_only() -> bool:
    """True when SITE_CONFIG_FILE is set: the file is edited, not the database."""
    return bool(os.environ.get(FILE_ENV))


def current() -> SiteConfigVersion:
    """The current version (id, contents); a new site gets the default document."""
    if read_only():
        return _read_file(Path(os.environ[FILE_ENV]))
    latest = _latest()
    if latest is not None:
        return latest
    with transaction.atomic():
        latest = _locked_latest()
        if latest is None:
            latest = SiteConfigVersion.objects.create(contents=DEFAULT_DOCUMENT)
    return latest


def effective_contents() -> str:
    """The current document as shown to admins: secrets replaced by "REDACTED"."""
    return redaction.redact(current().contents)


def validation_messages() -> list[str]:
    """Errors then warnings for the current document, each starting with its JSON path."""
    return validate(current().contents).messages


def update(last_id: int, text: str, author: User | None = None) -> int:
    """Save `text` as the new version if `last_id` is still current; returns the new id.

    "REDACTED" secrets keep their stored values. Raises SiteConfigError listing every problem.
    """
    _refuse_if_read_only()
    current()  # a new site's default version is the one a first edit replaces
    with transaction.atomic():
        latest = _locked_latest()
        assert latest is not None
        if latest.id != last_id:
            raise SiteConfigError(
                [
                    "someone else saved the site configuration first (your version "
                    f"{last_id}, current {latest.id}); reload and apply your change again"
                ]
            )
        saved = _save(latest, text, author)
    clear_cache()
    return saved.id


def patch(
    values: Mapping[tuple[str, ...], Any],
    author: User | None = None,
    comment: str | None = None,
    *,
    keep_set: bool = False,
) -> int:
    """Set several paths in the current document, keeping its comments; returns the version id.

    Paths are lists of keys such as ("email.smtp", "host"); ("email", "smtp", "host") is read as
    the same flat key. `comment` is written above the first key set. Validated like `update`.
    With `keep_set`, paths that already have a value (checked under the save lock) are left as
    they are, so concurrent first-use defaults never overwrite each other.
    """
    _refuse_if_read_only()
    current()
    with transaction.atomic():
        latest = _locked_latest()
        assert latest is not None
        if keep_set:
            values = {
                p: v
                for p, v in values.items()
                if jsonc.get_path(latest.contents, _flat_path(p)) in (None, "")
            }
        text = _patched(latest.contents, values, comment)
        if text == latest.contents:
            return latest.id
        saved = _save(latest, text, author)
    clear_cache()
    return saved.id


def preview(
    text: str | None = None, values: Mapping[tuple[str, ...], Any] | None = None
) -> SiteSettings:
    """The settings a save of `text` (or of `values` patched into the current document) would
    give, without saving: what "Send test email" tests before the admin saves.

    REDACTED secrets take the stored values. Raises SiteConfigError like a save would.
    """
    latest = current()
    if text is None:
        text = _patched(latest.contents, values or {}, None)
    _refuse_if_too_large(text)
    text, redaction_problems = redaction.unredact_report(text, latest.contents)
    result = validate(text)
    problems: list[Problem | str] = [*redaction_problems, *result.errors]
    if problems or result.document is None:
        raise SiteConfigError(problems or ["(top level): not a JSON object"])
    return site_settings(latest.id, result.document)


def _patched(text: str, values: Mapping[tuple[str, ...], Any], comment: str | None) -> str:
    for i, (raw_path, value) in enumerate(values.items()):
        path = _flat_path(raw_path)
        try:
            text = jsonc.set_path(text, path, value, comment=comment if i == 0 else None)
        except jsonc.JSONCError as exc:
            raise SiteConfigError(
                [f"the stored site configuration is not valid ({exc}); fix it first"]
            ) from exc
        except ValueError as exc:
            raise SiteConfigError([f"{format_path(path)}: {exc}"]) from exc
    return text


# --- typed settings, cached ----------------------------------------------------------------


@dataclass(frozen=True)
class _Cached:
    key: tuple[Any, ...]
    settings: SiteSettings
    checked_at: float


_cache: _Cached | None = None
_cache_lock = threading.Lock()


class _Checked(threading.local):
    """This thread's last check inside a transaction: which transaction, which entry, when."""

    token: object | None = None
    entry: _Cached | None = None
    at = 0.0


_checked = _Checked()


def get_settings(*, fresh: bool = False) -> SiteSettings:
    """The typed settings of the current version; cheap to call on every request.

    Within CACHE_TTL of the last check it returns the cached object without a query; after that
    one `SELECT id, created_at ... LIMIT 1` (or one stat() in file mode) tells whether it changed.
    Never raises for a broken document: invalid parts get their defaults (no email.smtp: email
    disabled).
    """
    global _cache
    cached = _cache
    now = time.monotonic()
    # Inside a transaction the caller may have saved a version that will roll back: what was
    # read here is trusted by this thread in this transaction only (transactions.token changes
    # at its end and when a savepoint in it rolls back), never by other threads.
    token = transactions.token()
    if cached is not None and not fresh:
        if token is None:
            if now - cached.checked_at < CACHE_TTL:
                return cached.settings
        elif (
            _checked.token is token
            and _checked.entry is cached
            and now - _checked.at < CACHE_TTL
            and not read_only()  # a file is no transaction's: one stat() is cheap
        ):
            return cached.settings
    key = _version_key()
    checked_at = float("-inf") if token is not None else now
    if cached is not None and cached.key == key:
        if checked_at > cached.checked_at:
            _cache = cached = _Cached(key, cached.settings, checked_at)
    else:
        with _cache_lock:  # one thread rebuilds; the others then find the fresh entry
            cached = _cache
            if cached is None or cached.key != key:
                cached = _cache = _Cached(key, _load(), checked_at)
    if token is not None:
        _checked.token, _checked.entry, _checked.at = token, cached, now
    return cached.settings


async def aget_settings(*, fresh: bool = False) -> SiteSettings:
    """`get_settings` for async code: no thread hop while the cache is fresh."""
    cached = _cache
    if cached is not None and not fresh and time.monotonic() - cached.checked_at < CACHE_TTL:
        return cached.settings
    return await sync_to_async(functools.partial(get_settings, fresh=fresh))()


def clear_cache() -> None:
    """Forget the cached settings (the next get_settings reads the database)."""
    global _cache
    _cache = None


def _version_key() -> tuple[Any, ...]:
    if read_only():
        path = Path(os.environ[FILE_ENV])
        try:
            st = path.stat()
        except OSError as exc:
            return ("file", str(path), "error", exc.errno)
        return ("file", str(path), st.st_mtime_ns, st.st_size, st.st_ino)
    # created_at too: a test rollback can hand the same id to a different row.
    row = SiteConfigVersion.objects.order_by("-id").values_list("id", "created_at").first()
    return ("db", *row) if row else ("db", None)


def _load() -> SiteSettings:
    try:
        version: SiteConfigVersion | None = current()
    except SiteConfigError as exc:  # SITE_CONFIG_FILE unreadable: the last copy of it, if any
        log.error("site configuration: %s", exc)
        version = _last_file_copy()
    if version is None:
        return site_settings(0, {})
    try:
        doc = jsonc.parse(version.contents)
    except jsonc.JSONCError as exc:
        log.error("site configuration version %s: %s; using defaults", version.id, exc)
        doc = {}
    return site_settings(version.id, doc if isinstance(doc, dict) else {})


# --- storage -------------------------------------------------------------------------------


def _latest() -> SiteConfigVersion | None:
    return SiteConfigVersion.objects.order_by("-id").first()


def _locked_latest() -> SiteConfigVersion | None:
    """The latest row, with concurrent saves serialised (call inside transaction.atomic)."""
    # PostgreSQL: lock the latest row, so a concurrent save waits here. SQLite ignores FOR
    # UPDATE; its IMMEDIATE transactions already hold the write lock from BEGIN.
    SiteConfigVersion.objects.select_for_update().order_by("-id").values_list("id").first()
    # Read again: under READ COMMITTED, a new statement sees a row committed while we waited,
    # whereas the locked SELECT returns the row it first found.
    return _latest()


@dataclass
class _FileCopy:
    path: str
    version: SiteConfigVersion


_file_copy: _FileCopy | None = None
_file_lock = threading.Lock()


def _read_file(path: Path) -> SiteConfigVersion:
    """The file's contents as an unsaved version (file mode writes nothing to the database)."""
    global _file_copy
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteConfigError(
            [f"{FILE_ENV}={path}: cannot read the site configuration ({exc})"]
        ) from exc
    with _file_lock:
        copy = _file_copy
        if copy is not None and copy.path == str(path) and copy.version.contents == text:
            return copy.version
        next_id = copy.version.id + 1 if copy is not None else 1
        version = SiteConfigVersion(id=next_id, contents=text)
        _file_copy = _FileCopy(str(path), version)
    return version


def _last_file_copy() -> SiteConfigVersion | None:
    copy = _file_copy
    return copy.version if copy is not None and copy.path == os.environ.get(FILE_ENV) else None


def _refuse_if_read_only() -> None:
    if read_only():
        raise SiteConfigError(
            [
                f"the site configuration is read-only because {FILE_ENV} is set "
                f"({os.environ[FILE_ENV]}); edit that file instead"
            ]
        )


def _refuse_if_too_large(text: str) -> None:
    """Before anything parses it (the parser is slow on huge documents; _save holds the lock)."""
    if len(text) > MAX_SIZE:
        raise SiteConfigError(
            [f"(top level): the document is {len(text)} characters; the limit is {MAX_SIZE}"]
        )
    too_large = limits.check(text)
    if too_large is not None:
        raise SiteConfigError([f"(top level): the document is too large: {too_large}"])


def _save(latest: SiteConfigVersion, text: str, author: User | None) -> SiteConfigVersion:
    _refuse_if_too_large(text)
    text, redaction_problems = redaction.unredact_report(text, latest.contents)
    result = validate(text)
    problems: list[Problem | str] = [*redaction_problems, *result.errors]
    if not problems and result.document is not None:
        for check in validators:
            problems += check(result.document)
    if problems:
        raise SiteConfigError(problems)
    return SiteConfigVersion.objects.create(contents=text, author=author)


def _flat_path(path: Sequence[PathElem]) -> tuple[PathElem, ...]:
    """("email", "smtp", "host") -> ("email.smtp", "host"): the document's keys are flat."""
    if len(path) >= 2 and isinstance(path[0], str) and isinstance(path[1], str):
        if f"{path[0]}.{path[1]}" in KNOWN_KEYS:
            return (f"{path[0]}.{path[1]}", *path[2:])
    return tuple(path)
