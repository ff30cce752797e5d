"""Monitor actions: notification emails through the outbox and webhook POSTs with retries."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from sitemail import outbox
from sitemail.accounts import mailbudget
from sitemail.accounts.models import User, UserEmail
from sitemail.deliverability import unsubscribe
from sitemail.monitors import access, egress
from sitemail.monitors.models import Action, ActionRun, WebhookDelivery
from sitemail.outbox.models import Status
from sitemail.siteconfig import service as siteconfig

log = logging.getLogger(__name__)

EMAIL_RESULTS = 5  # results shown in an email with includeResults, then "...and N more"
WEBHOOK_RESULTS = 50
WEBHOOK_ATTEMPTS = 5
WEBHOOK_TIMEOUT = 10.0

SAMPLE_RESULT: dict[str, Any] = {
    "repo": "github.com/sourcegraph/example",
    "commit": "0123456789abcdef0123456789abcdef01234567",
    "short": "0123456789",
    "author": "Sample Author",
    "email": "author@example.com",
    "date": "2026-01-01T00:00:00+00:00",
    "subject": "Add a sample result",
    "message": "Add a sample result",
    "lines": [{"path": "README.md", "line": "+TODO: this is a sample matched line"}],
    "lineCount": 1,
}


def _external_url() -> str:
    from sitemail.siteconfig import service as siteconfig

    return siteconfig.get_settings().external_url.rstrip("/")


def search_url(query_text: str) -> str:
    return f"{_external_url()}/search?q={quote(query_text, safe='')}"


def monitor_url(monitor_id: int | None) -> str:
    base = f"{_external_url()}/code-monitoring"
    return f"{base}/{monitor_id}" if monitor_id is not None else base


def verified_primary(user: User) -> str | None:
    row = UserEmail.objects.filter(user=user, is_primary=True, verified_at__isnull=False).first()
    return row.email if row is not None else None


def enqueue_emails(
    *,
    recipients: Sequence[User],
    description: str,
    query_text: str,
    monitor_id: int | None,
    priority: str,
    header: str,
    include_results: bool,
    results: Sequence[dict[str, Any]],
    count: int,
    is_test: bool = False,
    action_id: int | None = None,
) -> tuple[list[str], list[str]]:
    """One email per recipient with a verified primary address (SPEC 3), in the caller's
    transaction. Returns (usernames mailed, reasons recipients were skipped). Logs name users,
    never addresses: the owner may see them, and an address is the recipient's own business."""
    shown = list(results[:EMAIL_RESULTS]) if include_results else []
    context = {
        "description": description,
        "priority": priority,
        "is_test": is_test,
        "count": count,
        "header": header,
        "query": query_text,
        "search_url": search_url(query_text),
        "monitor_url": monitor_url(monitor_id),
        "include_results": include_results,
        "results": shown,
        "more": max(0, count - len(shown)) if include_results else 0,
    }
    sent: list[str] = []
    skipped: list[str] = []
    addresses = {user.pk: verified_primary(user) for user in recipients}
    scope = unsubscribe.monitor_action(action_id) if action_id is not None else None
    off = unsubscribe.turned_off([a for a in addresses.values() if a], scope) if scope else set()
    site = siteconfig.get_settings()
    for user in recipients:
        address = addresses[user.pk]
        if address is None:
            skipped.append(f"skipped {user.username}: no verified primary email address")
            continue
        if address.lower() in off:
            skipped.append(f"skipped {user.username}: unsubscribed from this monitor's email")
            continue
        headers = unsubscribe.headers(site, address, scope) if scope else None
        row = outbox.enqueue("code_monitor", address, context, settings=site, headers=headers)
        if row.status == Status.SUPPRESSED:
            # The reply may quote the address: the email log has it, the action log does not.
            skipped.append(f"suppressed {user.username}: their address bounced or complained")
            continue
        sent.append(user.username)
    return sent, skipped


def run_email(
    action: Action,
    trigger_run_id: int,
    *,
    description: str,
    query_text: str,
    monitor_id: int,
    results: Sequence[dict[str, Any]],
    count: int,
) -> ActionRun:
    # Recipients are checked again at each run: one may have left the owner's organizations.
    allowed = access.possible_recipients(action.monitor.owner)
    recipients = list(action.recipients.all())
    left = [f"skipped {u.username}: no longer allowed" for u in recipients if u.pk not in allowed]
    recipients = [u for u in recipients if u.pk in allowed]
    try:
        mailbudget.spend(action.monitor.owner, "code_monitor", len(recipients))
    except mailbudget.OverBudget as exc:
        return ActionRun.objects.create(
            action=action,
            trigger_run_id=trigger_run_id,
            status=ActionRun.Status.ERROR,
            message=f"skipped: {exc}",
        )
    sent, skipped = enqueue_emails(
        recipients=recipients,
        description=description,
        query_text=query_text,
        monitor_id=monitor_id,
        priority=action.priority,
        header=action.header,
        include_results=action.include_results,
        results=results,
        count=count,
        action_id=action.pk,
    )
    notes = [f"enqueued email to {a}" for a in sent] + skipped + left
    return ActionRun.objects.create(
        action=action,
        trigger_run_id=trigger_run_id,
        status=ActionRun.Status.SUCCESS if sent else ActionRun.Status.ERROR,
        message="; ".join(notes),
    )


def webhook_payload(
    action: Action,
    *,
    description: str,
    query_text: str,
    monitor_id: int | None,
    results: Sequence[dict[str, Any]],
    count: int,
) -> dict[str, Any]:
    included = list(results[:WEBHOOK_RESULTS]) if action.include_results else []
    if action.type == Action.Type.SLACK:
        noun = "result" if count == 1 else "results"
        lines = [
            f"Code monitor *{description}* detected {count} new {noun}: "
            f"<{search_url(query_text)}|view search> · <{monitor_url(monitor_id)}|edit monitor>"
        ]
        for r in included[:EMAIL_RESULTS]:
            lines.append(f"• {r['repo']} `{r['short']}` {r['author']}: {r['subject']}")
            lines += [f"    `{m['line'][:200]}`" for m in r.get("lines", [])]
        if action.include_results and count > EMAIL_RESULTS:
            lines.append(f"...and {count - EMAIL_RESULTS} more")
        return {"text": "\n".join(lines)}
    return {
        "monitorDescription": description,
        "monitorURL": monitor_url(monitor_id),
        "query": query_text,
        "searchURL": search_url(query_text),
        "resultCount": count,
        "results": included,
    }


def run_webhook(
    action: Action,
    trigger_run_id: int,
    *,
    description: str,
    query_text: str,
    monitor_id: int,
    results: Sequence[dict[str, Any]],
    count: int,
    now: datetime,
) -> ActionRun:
    run = ActionRun.objects.create(
        action=action,
        trigger_run_id=trigger_run_id,
        status=ActionRun.Status.PENDING,
        message=f"queued POST to {action.url}",
    )
    payload = webhook_payload(
        action,
        description=description,
        query_text=query_text,
        monitor_id=monitor_id,
        results=results,
        count=count,
    )
    WebhookDelivery.objects.create(
        action_run=run, url=action.url, payload=payload, next_attempt_at=now
    )
    return run


def post_once(url: str, payload: dict[str, Any]) -> tuple[bool, bool, str]:
    """One POST now (test actions): (delivered, retryable, note)."""
    return _post(url, payload)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** (attempts - 1)))


def _post(url: str, payload: dict[str, Any]) -> tuple[bool, bool, str]:
    """(delivered, retryable, note) for one POST.

    SECURITY: the note never carries the network's error text (refused, reset, timed out...):
    that would make the action log a port scanner."""
    try:
        response = egress.post_json(
            url,
            payload,
            timeout=WEBHOOK_TIMEOUT,
            headers={"User-Agent": f"{django_settings.PRODUCT_NAME} code monitor (sitemail)"},
        )
    except egress.Refused as exc:
        return False, False, f"refused: {exc}"
    except httpx.HTTPError:
        return False, True, "failed: no HTTP response"
    note = f"HTTP {response.status_code}"
    if response.is_success:
        return True, False, note
    # Server errors and rate limits are temporary; other 4xx will not change on retry.
    return False, response.status_code >= 500 or response.status_code in (408, 429), note


def deliver_webhooks(now: datetime | None = None, limit: int = 50) -> int:
    """POST every due webhook delivery once; returns how many were attempted."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status="queued", next_attempt_at__lte=now)
        .select_related("action_run")
        .order_by("next_attempt_at")[:limit]
    )
    attempted = 0
    for delivery in due:
        # Claim with a conditional UPDATE so two processes never POST the same attempt.
        lease = now + timedelta(seconds=WEBHOOK_TIMEOUT * 3)
        if not WebhookDelivery.objects.filter(
            pk=delivery.pk, status="queued", next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=lease):
            continue
        attempted += 1
        ok, retry, note = _post(delivery.url, delivery.payload)
        attempts = delivery.attempts + 1
        run = delivery.action_run
        with transaction.atomic():
            if ok:
                status, run.status = "sent", ActionRun.Status.SUCCESS
                run.message = f"delivered to {delivery.url} ({note}, attempt {attempts})"
                next_at = now
            elif retry and attempts < WEBHOOK_ATTEMPTS:
                status, next_at = "queued", now + _backoff(attempts)
                run.message = f"attempt {attempts} to {delivery.url} failed ({note}); retrying"
            else:
                status, run.status, next_at = "failed", ActionRun.Status.ERROR, now
                run.message = f"gave up on {delivery.url} after {attempts} attempts ({note})"
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=status,
                attempts=attempts,
                last_error="" if ok else note,
                next_attempt_at=next_at,
            )
            run.save(update_fields=["status", "message"])
    return attempted
