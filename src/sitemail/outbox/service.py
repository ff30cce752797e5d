"""enqueue: render and build an email now, INSERT it into the outbox in the caller's transaction."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from sitemail.deliverability import dkim
from sitemail.deliverability import hooks as after_delivery
from sitemail.mail import kinds
from sitemail.mail.build import MailBuildError, build, new_message_id
from sitemail.mail.render import render
from sitemail.outbox import pending, wake
from sitemail.outbox.insert import insert_many, new_row
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig.typed import SiteSettings

DISABLED = "email is disabled: email.smtp is not set in the site configuration"
LINK_REMOVED = "[link removed after delivery]"
VALUE_REMOVED = "[removed after delivery]"

Recipients = str | Sequence[str]


def _settings(settings: SiteSettings | None) -> SiteSettings:
    if settings is not None:
        return settings
    from sitemail.siteconfig import service as siteconfig

    return siteconfig.get_settings()


def _placeholder(value: object) -> str:
    text = str(value)
    return LINK_REMOVED if text.startswith(("http://", "https://")) else VALUE_REMOVED


def _plainly_json(value: object, depth: int = 0) -> bool:
    """True if `value` is made of JSON's own types only (exactly str, int, bool, None, finite
    float, list, dict with str keys), a few levels deep: what json.dumps surely accepts, found
    without writing the text out. False means "ask json.dumps", not "unsafe"."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if depth >= 8:
        return False
    if kind is list:
        return all(_plainly_json(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(
            type(k) is str and _plainly_json(v, depth + 1)
            for k, v in value.items()  # type: ignore[attr-defined]
        )
    return False


def _check_json_safe(kind: str, context: Mapping[str, Any]) -> None:
    if type(context) is dict and _plainly_json(context):
        return  # the common case; anything else is json.dumps's to judge (and to explain)
    try:
        json.dumps(context, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"the context of a {kind!r} email must be JSON-safe (str, numbers, bools, None, "
            f"lists, dicts): {exc}"
        ) from exc


def prepare(
    kind: str,
    to: Recipients,
    context: Mapping[str, Any],
    *,
    settings: SiteSettings,
    secrets: Collection[str] = (),
    cc: Recipients = (),
    bcc: Recipients = (),
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """The unsaved row for one email: rendered and serialised once, here."""
    _check_json_safe(kind, context)
    now = now or timezone.now()
    rendered = render(kind, context, settings)
    secret_keys = (kinds.get(kind).secrets | frozenset(secrets)) & context.keys()
    stored_context = {k: (_placeholder(v) if k in secret_keys else v) for k, v in context.items()}
    to_list = [
        *([to] if isinstance(to, str) else to),
        *([cc] if isinstance(cc, str) else cc),
        *([bcc] if isinstance(bcc, str) else bcc),
    ]
    row = new_row(
        kind=kind,
        recipient=(to_list[0] if to_list else "")[:320],
        subject=rendered.subject[:998],
        context=stored_context,
        next_attempt_at=now,
    )
    enabled = settings.email.smtp is not None
    if not enabled:
        row.status = Status.SKIPPED
        row.last_error = DISABLED
        if not settings.email.address:
            # Nothing will ever be sent, so a missing From address is not this caller's
            # problem; the log still shows its kind, recipient and subject.
            row.mail_from, row.rcpt_tos, row.data = "", to_list, b""
            row.message_id = new_message_id("localhost")
            return row

    prepared = build(settings, to, rendered, cc=cc, bcc=bcc, headers=headers, date=now)
    row.recipient = prepared.rcpt_tos[0][:320]
    row.mail_from = after_delivery.envelope_sender(settings, prepared)
    row.rcpt_tos = prepared.rcpt_tos
    row.message_id = prepared.message_id
    # Signed once, here: the stored bytes are what every attempt sends (same signature).
    row.data = dkim.sign(settings, prepared.data) if enabled else prepared.data
    if secret_keys:
        # Same Message-ID and Date: after delivery this copy replaces `data` in the log.
        redacted = build(
            settings,
            to,
            render(kind, stored_context, settings),
            cc=cc,
            bcc=bcc,
            headers=headers,
            message_id=prepared.message_id,
            date=now,
        ).data
        if enabled:
            row.redacted_data = redacted
        else:
            row.data = redacted  # skipped rows are never sent: never keep the secret at all
    return row


def enqueue(
    kind: str,
    to: Recipients,
    context: Mapping[str, Any],
    *,
    settings: SiteSettings | None = None,
    secrets: Collection[str] = (),
    cc: Recipients = (),
    bcc: Recipients = (),
    headers: Mapping[str, str] | None = None,
) -> OutboxMessage:
    """Render, build and INSERT one email in the caller's transaction (never on_commit).

    The row commits or rolls back with the change that caused it. Inside `transaction.atomic`
    the INSERT waits for the transaction's next statement or its commit, and goes in together
    with the other emails enqueued before it (outbox.pending); every query sees the row.
    `secrets` adds context keys (to the kind's registered ones) whose values are removed from
    the stored copy once sent.
    Raises MailBuildError for a bad address or a missing `email.address`, RenderError for a
    bad kind or template, TypeError for a context that is not JSON-safe.
    """
    row = prepare(
        kind,
        to,
        context,
        settings=_settings(settings),
        secrets=secrets,
        cc=cc,
        bcc=bcc,
        headers=headers,
    )
    after_delivery.hold([row])
    connection = connections[router.db_for_write(OutboxMessage)]
    if pending.defers(connection):
        # In a transaction: NOTIFY now (it is delivered at commit), the INSERT with the
        # transaction's next statement, together with any other email enqueued before it.
        if row.status == Status.QUEUED:
            wake.enqueued(connection.alias)
        pending.add(connection, [row])
        return row
    insert_many([row])  # what row.save() would do, without compiling an ORM INSERT per email
    if row.status == Status.QUEUED:
        wake.enqueued()
    return row


def enqueue_many(
    kind: str,
    messages: Iterable[tuple[Recipients, Mapping[str, Any]]],
    *,
    settings: SiteSettings | None = None,
    secrets: Collection[str] = (),
    batch_size: int = 500,
) -> list[OutboxMessage]:
    """`enqueue` for many (to, context) pairs of one kind: one multi-row INSERT per batch.

    All are rendered and built before the first INSERT, so a bad address or context raises
    before anything is written.
    """
    resolved = _settings(settings)
    now = timezone.now()
    rows = [
        prepare(kind, to, ctx, settings=resolved, secrets=secrets, now=now) for to, ctx in messages
    ]
    with transaction.atomic():
        after_delivery.hold(rows)
        insert_many(rows, batch_size=batch_size)
        if any(row.status == Status.QUEUED for row in rows):
            wake.enqueued()
    return rows


__all__ = ["DISABLED", "MailBuildError", "enqueue", "enqueue_many", "prepare"]
