"""The mail catcher's inbox: list and search, one message's parts with clickable links, raw
source, delete one or all, and the cap on how many messages it keeps."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.db.models import Q
from django.utils.safestring import SafeString, mark_safe

from sitemail.catcher.models import CaughtMail

KEEP = 500  # the newest messages kept; older ones are removed as new mail arrives
PAGE = 100
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def store(mail_from: str, rcpt_tos: list[str], subject: str, data: bytes) -> CaughtMail:
    """Keep a received message, dropping the oldest beyond KEEP."""
    row = CaughtMail.objects.create(
        mail_from=mail_from, rcpt_tos=rcpt_tos, subject=subject[:998], data=data
    )
    cutoff = CaughtMail.objects.order_by("-id").values_list("id", flat=True)[KEEP : KEEP + 1]
    if cutoff:
        CaughtMail.objects.filter(id__lte=cutoff[0]).delete()
    return row


def search(query: str = "", after: int = 0) -> list[CaughtMail]:
    """Newest first; `query` matches subject, sender or recipients; `after` only newer ids."""
    rows = CaughtMail.objects.defer("data").filter(id__gt=after)
    if query:
        rows = rows.filter(
            Q(subject__icontains=query)
            | Q(mail_from__icontains=query)
            | Q(rcpt_tos__icontains=query)
        )
    return list(rows[:PAGE])


def count() -> int:
    return CaughtMail.objects.count()


def delete(pk: int) -> bool:
    return CaughtMail.objects.filter(pk=pk).delete()[0] > 0


def clear() -> int:
    return CaughtMail.objects.all().delete()[0]


def linkify(text: str) -> SafeString:
    """Plain text as HTML with every http(s) URL a link that opens in a new tab."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}" target="_blank" rel="noopener noreferrer">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return mark_safe("".join(out))  # noqa: S308 (every piece is escaped above)


def html_for_frame(body: str) -> str:
    """The HTML part for a sandboxed iframe: its links open in a new tab (scripts stay off)."""
    return '<base target="_blank">' + body


@dataclass(frozen=True)
class Summary:
    """One row of the inbox as the live refresh sends it."""

    id: int
    received_at: str
    to: str
    subject: str

    @classmethod
    def of(cls, row: CaughtMail) -> Summary:
        return cls(
            row.pk,
            row.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            ", ".join(row.rcpt_tos),
            row.subject or "(no subject)",
        )
