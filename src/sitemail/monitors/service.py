"""Monitor services: create, update, toggle, delete, list, preview and the test email action."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Count, F, Prefetch, Window, prefetch_related_objects
from django.db.models.functions import RowNumber
from django.utils import timezone

from sitemail import paging
from sitemail.accounts import mailbudget
from sitemail.accounts.models import User
from sitemail.monitors import actions, egress, git, search
from sitemail.monitors.access import MonitorError, check_recipients, may_manage
from sitemail.monitors.models import (
    Action,
    ActionRun,
    CodeMonitor,
    Repository,
    RepoState,
    TriggerRun,
)
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


def with_actions(monitor: CodeMonitor) -> CodeMonitor:
    """Load the monitor's actions and their recipients in two queries (for shaping)."""
    prefetch_related_objects([monitor], _ACTIONS)
    return monitor


_ACTIONS = Prefetch("actions", queryset=Action.objects.prefetch_related("recipients"))


def page_for(
    actor: User | None, owner: User, first: int | None, after: str | None
) -> paging.Page[CodeMonitor]:
    """User.monitors: the owner and site admins see them; others get an empty page."""
    rows = CodeMonitor.objects.filter(owner=owner)
    if not may_manage(actor, owner.pk):
        rows = rows.none()
    return paging.page(rows.select_related("owner").prefetch_related(_ACTIONS), first, after)


def events_pages(
    monitors: Sequence[CodeMonitor], first: int | None, after: str | None
) -> dict[int, tuple[paging.Page[TriggerRun], list[Action]]]:
    """Each monitor's page of trigger runs, newest first, with their action runs.

    Three queries for any number of monitors and any page size (a window function ranks each
    monitor's runs), so a list of monitors with their logs costs no query per monitor.
    """
    n = paging.check_first(first, 50)
    ids = [m.pk for m in monitors]
    totals = dict(
        TriggerRun.objects.filter(monitor_id__in=ids)
        .values_list("monitor_id")
        .annotate(n=Count("pk"))
        .values_list("monitor_id", "n")
    )
    rows = TriggerRun.objects.filter(monitor_id__in=ids)
    if after is not None:
        rows = rows.filter(pk__lt=paging.decode_cursor(after))
    rank = Window(RowNumber(), partition_by=[F("monitor_id")], order_by=F("pk").desc())
    ranked = list(
        rows.annotate(rank=rank).filter(rank__lte=n + 1).order_by("monitor_id", "-pk")
        if n
        else rows.none()
    )
    prefetch_related_objects(ranked, "action_runs")
    pages: dict[int, tuple[paging.Page[TriggerRun], list[Action]]] = {}
    for monitor in monitors:
        mine = [r for r in ranked if r.monitor_id == monitor.pk]
        page = paging.Page(rows=mine[:n], total=totals.get(monitor.pk, 0), has_next=len(mine) > n)
        pages[monitor.pk] = (page, list(monitor.actions.all()))
    return pages


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


def reset_timestamps(actor: User, monitor_id: int) -> CodeMonitor:
    """resetTriggerQueryTimestamps: the next run, due now, searches every commit again."""
    monitor = get_for(actor, monitor_id)
    with transaction.atomic():
        # Empty tips: nothing counts as seen, so the next scan covers the whole history.
        RepoState.objects.filter(monitor=monitor).update(tips={})
        CodeMonitor.objects.filter(pk=monitor.pk).update(next_run_at=timezone.now())
    return monitor


def send_test_webhook(actor: User, owner_id: int, description: str, spec: ActionSpec) -> None:
    """triggerTestWebhookAction / triggerTestSlackWebhookAction: one POST now, its outcome."""
    owner = _check_owner(actor, owner_id)
    _check_action(spec, owner)
    if not description.strip():
        raise MonitorError("description: must not be empty")
    action = Action(type=spec.type, include_results=True, url=spec.url)
    payload = actions.webhook_payload(
        action,
        description=f"Test: {description.strip()}",
        query_text="type:diff TODO",
        monitor_id=None,
        results=[actions.SAMPLE_RESULT],
        count=1,
    )
    delivered, _, note = actions.post_once(spec.url, payload)
    if not delivered:
        raise MonitorError(f"webhook: the test POST to {spec.url} failed ({note})")


__all__ = [
    "ActionSpec",
    "MonitorError",
    "MonitorSpec",
    "QueryError",
    "check_query",
    "create",
    "delete",
    "events_pages",
    "get_for",
    "list_for",
    "page_for",
    "preview",
    "reset_timestamps",
    "send_test_email",
    "send_test_webhook",
    "toggle",
    "update",
    "with_actions",
]


def visible_action(actor: User, action_id: int) -> Action | None:
    """node(id:) for an action: visible as its monitor is (owner, site admins)."""
    row = Action.objects.filter(pk=action_id).prefetch_related("recipients").first()
    return row if row is not None and _sees(actor, row.monitor_id) else None


def visible_trigger_run(actor: User, run_id: int) -> tuple[TriggerRun, list[Action]] | None:
    row = TriggerRun.objects.filter(pk=run_id).prefetch_related("action_runs").first()
    if row is None or not _sees(actor, row.monitor_id):
        return None
    return row, list(
        Action.objects.filter(monitor_id=row.monitor_id).prefetch_related("recipients")
    )


def visible_action_run(actor: User, run_id: int) -> ActionRun | None:
    row = ActionRun.objects.filter(pk=run_id).select_related("action").first()
    return row if row is not None and _sees(actor, row.action.monitor_id) else None


def _sees(actor: User, monitor_id: int) -> bool:
    try:
        get_for(actor, monitor_id)
    except MonitorError:
        return False
    return True
