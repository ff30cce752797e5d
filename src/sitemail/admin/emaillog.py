"""The email log as pages (keyset paging, fast on large tables) and one message shown safely."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

from sitemail.mail import kinds as kinds_registry
from sitemail.outbox import log
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.redact import REDACTED

MAX_PAGE = 200
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class Page:
    rows: list[OutboxMessage]
    # Cursor for the next (older) page: the last row's id; None on the last page.
    next_after: int | None
    has_next: bool


def page(
    *,
    first: int = DEFAULT_PAGE,
    after: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    recipient: str | None = None,
) -> Page:
    """Newest first; `after` is the id of the last row already shown.

    Keyset paging (`id < after`) instead of OFFSET so a page deep in 100k rows costs the same
    as the first one, and there is no COUNT(*) over the whole table.
    """
    first = max(1, min(first, MAX_PAGE))
    if status and status not in Status.values:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(Status.values)}")
    qs = log.messages(status=status or None, kind=kind or None, recipient=recipient or None)
    if after is not None:
        qs = qs.filter(id__lt=after)
    if (status or kind) and not recipient:
        # The page's ids first, from the (status, id) or (kind, id) index alone; asked for
        # whole rows ordered by id, PostgreSQL walks the primary key instead, filtering, and
        # reads every newer row of other statuses first (a queued backlog of 100,000).
        qs = log.messages().filter(id__in=qs.values("id")[: first + 1])
    rows = list(qs.defer("context", "rcpt_tos")[: first + 1])
    has_next = len(rows) > first
    rows = rows[:first]
    for row in rows:
        row.kind_title = kinds_registry.get(row.kind).title  # type: ignore[attr-defined]
    return Page(rows, rows[-1].id if has_next and rows else None, has_next)


def kinds() -> list[tuple[str, str]]:
    """Kinds for the filter, each with its name in words."""
    return [(name, kinds_registry.get(name).title) for name in kinds_registry.builtin_kinds()]


@dataclass(frozen=True)
class Detail:
    row: OutboxMessage
    headers: list[tuple[str, str]]
    text: str
    html: str


def detail(pk: int) -> Detail:
    """One message: headers and both parts, with reset links and sensitive headers removed."""
    row = OutboxMessage.objects.get(pk=pk)
    row.kind_title = kinds_registry.get(row.kind).title  # type: ignore[attr-defined]
    if row.purged_at is not None:  # email.log.retentionDays: only the log row is left
        return Detail(row, [], "", "")
    # Until delivery `data` still holds secrets; `redacted_data` is the copy safe to show.
    raw = bytes(row.redacted_data if row.redacted_data is not None else row.data)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    sensitive = {
        h.key.lower() for h in siteconfig.get_settings().email.additional_headers if h.sensitive
    }
    # The raw header values, for those the modern parser cannot make sense of.
    legacy = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = [
        (name, REDACTED if name.lower() in sensitive else _header(parsed, legacy, i))
        for i, name in enumerate(parsed.keys())
    ]
    return Detail(row, headers, _part(parsed, "plain"), _part(parsed, "html"))


def _header(parsed: EmailMessage, legacy: email.message.Message, index: int) -> str:
    """A header as text; a stored message may hold anything (an old bug, a Django caller), and
    the page must still show it: an odd value is shown raw, with CR/LF as spaces."""
    try:
        return str(parsed.values()[index])
    except Exception:
        value = legacy.values()[index]
        text = value if isinstance(value, str) else str(value)
        return text.replace("\r", " ").replace("\n", " ")


def _part(message: EmailMessage, subtype: str) -> str:
    try:
        part = message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_subtype() != subtype:
            return ""
        content = part.get_content()
    except Exception:
        return _raw_part(message, subtype)
    return content if isinstance(content, str) else ""


def _raw_part(message: EmailMessage, subtype: str) -> str:
    """The undecoded body, as text, when the part cannot be decoded properly."""
    if message.is_multipart() or message.get_content_subtype() != subtype:
        return ""
    payload = message.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
