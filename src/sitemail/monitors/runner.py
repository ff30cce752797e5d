"""Trigger runs: each enabled monitor searches only the commits new since its last run.

Per repository a monitor remembers the ref tips it has seen. A run searches the commits reachable
from the current tips but not from any remembered tip still present, then remembers the current
tips, so each commit is looked at once. A force push or a deleted branch only changes which tips
exist: old commits stay excluded (they are reachable from a remembered tip), and a remembered tip
that git has garbage-collected is dropped rather than failing the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from sitemail.monitors import actions, git, repos, search
from sitemail.monitors.models import Action, CodeMonitor, Repository, RepoState, TriggerRun
from sitemail.monitors.query import Query, QueryError, parse

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60
STORED_RESULTS = 50  # results kept on the run log (notifications show at most 5)


def interval() -> timedelta:
    from sitemail.siteconfig import service as siteconfig

    value = siteconfig.get_settings().raw.get("codeMonitors.interval", DEFAULT_INTERVAL)
    return timedelta(seconds=value if isinstance(value, int | float) else DEFAULT_INTERVAL)


@dataclass
class _Scan:
    repo: Repository
    tips: dict[str, str]
    rng: search.Range | None  # None: first look at this repository, nothing to search


def _plan(monitor: CodeMonitor, repo: Repository, state: RepoState | None) -> _Scan:
    path = Path(repo.mirror_path)
    current = git.tips(path)
    if state is None:
        return _Scan(repo, current, None)
    seen = set(state.tips.values())
    new = sorted(set(current.values()) - seen)
    return _Scan(repo, current, search.Range(include=tuple(new), exclude=tuple(sorted(seen))))


def _scan(path: Path, name: str, query: Query, rng: search.Range) -> search.Outcome:
    try:
        return search.scan(path, name, query, rng)
    except git.GitError:
        # Mirrors never gc (see git.clone_mirror), so a seen tip is normally still there;
        # if one is gone after all, exclude the ones that remain instead of failing.
        present = git.existing(path, rng.exclude)
        if len(present) == len(set(rng.exclude)):
            raise
        kept = tuple(sha for sha in rng.exclude if sha in present)
        return search.scan(path, name, query, search.Range(rng.include, kept, rng.limit))


def run_monitor(monitor: CodeMonitor, now: datetime | None = None) -> TriggerRun:
    """One trigger run; records the run, the new tips and the actions in one transaction."""
    started = now or timezone.now()
    try:
        query = parse(monitor.query)
    except QueryError as exc:
        return TriggerRun.objects.create(
            monitor=monitor,
            query=monitor.query,
            status=TriggerRun.Status.ERROR,
            message=str(exc),
            started_at=started,
            finished_at=timezone.now(),
        )
    states = {s.repository_id: s for s in RepoState.objects.filter(monitor=monitor)}
    scans: list[_Scan] = []
    errors: list[str] = []
    results: list[search.Result] = []
    scanned = 0
    for repo in Repository.objects.all():
        if not query.repo_matches(repo.name):
            continue
        try:
            scan = _plan(monitor, repo, states.get(repo.pk))
            if scan.rng is not None and scan.rng.include:
                outcome = _scan(Path(repo.mirror_path), repo.name, query, scan.rng)
                scanned += outcome.scanned
                results += outcome.results
        except git.GitError as exc:
            # This repository's tips stay as they were: its commits are searched next time.
            errors.append(f"{repo.name}: {exc}")
            continue
        scans.append(scan)

    count = len(results)
    stored = [r.to_json() for r in results[:STORED_RESULTS]]
    with transaction.atomic():
        run = TriggerRun.objects.create(
            monitor=monitor,
            query=monitor.query,
            status=TriggerRun.Status.ERROR if errors else TriggerRun.Status.SUCCESS,
            message="; ".join(errors)[:4000],
            commits_scanned=scanned,
            result_count=count,
            results=stored,
            started_at=started,
            finished_at=timezone.now(),
        )
        for scan in scans:
            RepoState.objects.update_or_create(
                monitor=monitor, repository=scan.repo, defaults={"tips": scan.tips}
            )
        if count:
            _run_actions(monitor, run, stored, count, started)
    return run


def _run_actions(
    monitor: CodeMonitor,
    run: TriggerRun,
    results: list[dict[str, object]],
    count: int,
    now: datetime,
) -> None:
    common = {
        "description": monitor.description,
        "query_text": monitor.query,
        "monitor_id": monitor.pk,
        "results": results,
        "count": count,
    }
    for action in monitor.actions.filter(enabled=True):
        if action.type == Action.Type.EMAIL:
            actions.run_email(action, run.pk, **common)  # type: ignore[arg-type]
        else:
            actions.run_webhook(action, run.pk, now=now, **common)  # type: ignore[arg-type]


def run_due(now: datetime | None = None) -> int:
    """Fetch due repositories, run due monitors, deliver due webhooks; returns monitors run."""
    now = now or timezone.now()
    repos.fetch_due(now)
    every = interval()
    ran = 0
    for monitor in CodeMonitor.objects.filter(enabled=True, next_run_at__lte=now):
        # Claim: only the process whose UPDATE matches runs this monitor now.
        if CodeMonitor.objects.filter(pk=monitor.pk, next_run_at=monitor.next_run_at).update(
            next_run_at=now + every
        ):
            try:
                run_monitor(monitor, now)
                ran += 1
            except Exception:
                log.exception("code monitor %s: trigger run failed", monitor.pk)
    actions.deliver_webhooks()
    return ran
