"""The calls the outbox makes into deliverability (kept in one module so the outbox has one
import of it): the VERP envelope sender at build, suppression at enqueue."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from django.db import transaction

from sitemail.deliverability import suppression, verp
from sitemail.deliverability.config import bounce_settings
from sitemail.mail.build import Prepared
from sitemail.outbox.models import OutboxMessage
from sitemail.siteconfig.typed import SiteSettings


def envelope_sender(settings: SiteSettings, prepared: Prepared) -> str:
    """`bounces+<token>@<email.bounces.domain>` when that is set, else the From address."""
    domain = bounce_settings(settings).domain
    if domain is None:
        return prepared.mail_from
    return verp.envelope_sender(prepared.message_id, domain) or prepared.mail_from


def hold(rows: Sequence[OutboxMessage]) -> None:
    suppression.hold(rows)


class Attempt(Protocol):
    """What the worker records of one attempt (its Outcome)."""

    @property
    def row_id(self) -> int: ...
    @property
    def result(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def step(self) -> str: ...
    @property
    def code(self) -> int | None: ...
    @property
    def error(self) -> str: ...


log = logging.getLogger(__name__)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def after_attempts(attempts: Iterable[Attempt]) -> None:
    """Events from our own sends, after the worker recorded them: a 5xx at RCPT is a hard
    bounce (the server said the address does not exist), a 4xx reply to the message is
    `deferred`. Clean sends cost nothing here (the hot path)."""
    interesting = [
        a
        for a in attempts
        if a.result != "sent" and a.code is not None and a.step in ("mail", "rcpt", "data")
    ]
    if not interesting:
        return
    try:
        # A savepoint: a bug here must never stop the worker from recording its sends.
        with transaction.atomic():
            _record_attempts(interesting)
    except Exception:
        log.exception("deliverability: recording events of the worker's attempts failed")


def _record_attempts(interesting: list[Attempt]) -> None:
    from sitemail.deliverability import events
    from sitemail.deliverability.models import Bounce, EventType

    rows = OutboxMessage.objects.in_bulk([a.row_id for a in interesting])
    for attempt in interesting:
        row = rows.get(attempt.row_id)
        if row is None:
            continue
        assert attempt.code is not None
        status = _STATUS.search(attempt.error)
        if attempt.result == "failed" and attempt.step == "rcpt" and attempt.code >= 500:
            report = events.Report(EventType.BOUNCED, row.recipient, bounce=Bounce.HARD)
        elif attempt.result == "retry" and 400 <= attempt.code < 500:
            report = events.Report(EventType.DEFERRED, row.recipient)
        else:
            continue
        report.status = status.group(1) if status else f"{attempt.code // 100}.0.0"
        report.diagnostic, report.at = attempt.error, attempt.at
        events.record(row, report, "smtp")
