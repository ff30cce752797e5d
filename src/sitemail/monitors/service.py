"""Monitor services: create, update, toggle, delete, list, preview and the test email action."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from sitemail.accounts import mailbudget
from sitemail.accounts.models import User
from sitemail.monitors import actions, egress, git, search
from sitemail.monitors.access import MonitorError, check_recipients, may_manage
from sitemail.monitors.models import Action, CodeMonitor, Repository, RepoState
from sitemail.monitors.query import Query, QueryError, parse

PREVIEW_LIMIT = 20  # newest matches shown per repository
SEARCH_TIME_LIMIT = 10.0  # seconds per search (preview, /search) over all repositories


@dataclass
class ActionSpec:
    """One action as submitted: `type` is email, webhook or slackWebhook; id None creates."""

    type: str
    enabled: bool = True
    include_results: bool = False
    priority: str = "NORMAL"
    recipients: Sequence[int] = ()
    header: str = ""
    url: str = ""
    id: int | None = None


@dataclass
class MonitorSpec:
    description: str
    query: str
    enabled: bool = True
    actions: list[ActionSpec] = field(default_factory=list)


def check_query(text: str) -> Query:
    """Parse a trigger query; the QueryError names the bad token (a ValueError)."""
    return parse(text)


def _check_owner(actor: User, owner_id: int) -> User:
    if not may_manage(actor, owner_id):
        raise MonitorError("namespace: you may only create monitors in your own namespace")
    owner = User.objects.filter(pk=owner_id).first()
    if owner is None:
        raise MonitorError(f"namespace: no user with id {owner_id}")
    return owner


def _check_action(spec: ActionSpec, owner: User) -> None:
    if spec.type not in Action.Type.values:
        raise MonitorError(f"actions: unknown action type {spec.type!r}")
    if spec.priority not in Action.Priority.values:
        raise MonitorError("actions: priority must be NORMAL or CRITICAL")
    if spec.type == Action.Type.EMAIL:
        check_recipients(owner, spec.recipients)
    else:
        parts = urlsplit(spec.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MonitorError(f"actions: {spec.type} url must be an http(s) URL")
        try:
            egress.check(spec.url, resolve_required=False)  # and again at connect time
        except egress.Refused as exc:
            raise MonitorError(f"actions: {spec.type} url refused: {exc}") from exc


def _save_actions(monitor: CodeMonitor, specs: Sequence[ActionSpec]) -> None:
    """Actions with an id are updated, new ones created, the monitor's others deleted."""
    keep: list[int] = []
    existing = {a.pk: a for a in monitor.actions.all()}
    for spec in specs:
        if spec.id is not None:
            action = existing.get(spec.id)
            if action is None:
                raise MonitorError(f"actions: action {spec.id} does not belong to this monitor")
        else:
            action = Action(monitor=monitor)
        action.type = spec.type
        action.enabled = spec.enabled
        action.include_results = spec.include_results
        action.priority = spec.priority
        action.header = spec.header
        action.url = spec.url
        action.save()
        action.recipients.set(list(spec.recipients) if spec.type == Action.Type.EMAIL else [])
        keep.append(action.pk)
    monitor.actions.exclude(pk__in=keep).delete()


def _validate(spec: MonitorSpec, owner: User) -> None:
    if not spec.description.strip():
        raise MonitorError("description: must not be empty")
    check_query(spec.query)
    for action in spec.actions:
        _check_action(action, owner)


def record_baseline(monitor: CodeMonitor, query: Query | None = None) -> None:
    """Remember the current tips of every matching repository: only later commits notify."""
    query = query or parse(monitor.query)
    for repo in Repository.objects.all():
        if not query.repo_matches(repo.name):
            continue
        if RepoState.objects.filter(monitor=monitor, repository=repo).exists():
            continue
        try:
            tips = git.tips(Path(repo.mirror_path))
        except git.GitError:
            continue  # the trigger run records it once the mirror is readable
        RepoState.objects.create(monitor=monitor, repository=repo, tips=tips)


def create(actor: User, owner_id: int, spec: MonitorSpec) -> CodeMonitor:
    owner = _check_owner(actor, owner_id)
    _validate(spec, owner)
    with transaction.atomic():
        monitor = CodeMonitor.objects.create(
            owner=owner,
            description=spec.description.strip(),
            enabled=spec.enabled,
            query=spec.query.strip(),
            next_run_at=timezone.now(),
        )
        _save_actions(monitor, spec.actions)
        record_baseline(monitor)
    return monitor


def get_for(actor: User, monitor_id: int) -> CodeMonitor:
    """The monitor, if `actor` owns it or is a site admin (else: not found, no existence leak)."""
    monitor = CodeMonitor.objects.filter(pk=monitor_id).select_related("owner").first()
    if monitor is None or not may_manage(actor, monitor.owner_id):
        raise MonitorError(f"code monitor {monitor_id} not found")
    return monitor


def update(actor: User, monitor_id: int, spec: MonitorSpec) -> CodeMonitor:
    monitor = get_for(actor, monitor_id)
    _validate(spec, monitor.owner)
    with transaction.atomic():
        query_changed = monitor.query != spec.query.strip()
        monitor.description = spec.description.strip()
        monitor.enabled = spec.enabled
        monitor.query = spec.query.strip()
        monitor.save()
        _save_actions(monitor, spec.actions)
        if query_changed:
            # A new query may cover new repositories: start them from their current tips.
            record_baseline(monitor)
    return monitor


def toggle(actor: User, monitor_id: int, enabled: bool) -> CodeMonitor:
    monitor = get_for(actor, monitor_id)
    monitor.enabled = enabled
    monitor.save(update_fields=["enabled", "updated_at"])
    return monitor


def delete(actor: User, monitor_id: int) -> None:
    get_for(actor, monitor_id).delete()


def list_for(user: User) -> list[CodeMonitor]:
    return list(CodeMonitor.objects.filter(owner=user).order_by("id"))


def preview(
    text: str, limit: int = PREVIEW_LIMIT, time_limit: float = SEARCH_TIME_LIMIT
) -> list[search.Result]:
    """What the query matches now among each repository's newest commits (no state changes).

    SearchTimeout after `time_limit` seconds in all."""
    query = check_query(text)
    deadline = time.monotonic() + time_limit
    results: list[search.Result] = []
    for repo in Repository.objects.all():
        if not query.repo_matches(repo.name):
            continue
        path = Path(repo.mirror_path)
        try:
            tips = sorted(set(git.tips(path).values()))
            rng = search.Range(include=tuple(tips), limit=limit)
            results += search.search(path, repo.name, query, rng, deadline, time_limit)
        except git.GitError:
            continue
    return results


def send_test_email(actor: User, owner_id: int, description: str, spec: ActionSpec) -> list[str]:
    """Enqueue a `Test: ` notification with one sample result; returns the usernames mailed."""
    owner = _check_owner(actor, owner_id)
    spec.type = Action.Type.EMAIL
    _check_action(spec, owner)
    if not description.strip():
        raise MonitorError("description: must not be empty")
    mailbudget.spend(actor, "code_monitor", len(set(spec.recipients)))
    with transaction.atomic():
        sent, skipped = actions.enqueue_emails(
            recipients=list(User.objects.filter(pk__in=list(spec.recipients))),
            description=description.strip(),
            query_text="type:diff TODO",
            monitor_id=None,
            priority=spec.priority,
            header=spec.header,
            include_results=True,
            results=[actions.SAMPLE_RESULT],
            count=1,
            is_test=True,
        )
    if not sent:
        raise MonitorError(
            "no recipient has a verified primary email address: " + "; ".join(skipped)
        )
    return sent


__all__ = [
    "ActionSpec",
    "MonitorError",
    "MonitorSpec",
    "QueryError",
    "check_query",
    "create",
    "delete",
    "get_for",
    "list_for",
    "preview",
    "send_test_email",
    "toggle",
    "update",
]
