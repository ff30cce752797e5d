"""Bulk organization invitations (the CLI): one invitation per address, never twice."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.accounts.users import UserError
from sitemail.orgs import invitations
from sitemail.orgs.models import Organization, OrganizationInvitation


@dataclass
class Summary:
    sent: list[str] = field(default_factory=list)
    # Invited, but no email will be delivered (email disabled): the link is still valid.
    invited_without_email: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)
    # Refused for a reason that is not "already done" (unknown user, bad address, no email).
    failed: list[tuple[str, str]] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # --resend: pending ones sent again


def entries_of(lines: Iterable[str]) -> list[str]:
    """Addresses or usernames, one a line; blank lines and `#` comments ignored, deduplicated."""
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        entry = line.split("#", 1)[0].strip()
        if entry and entry.lower() not in seen:
            seen.add(entry.lower())
            out.append(entry)
    return out


def invite_all(
    sender: User,
    org: Organization,
    entries: list[str],
    progress: Callable[[str], None] = lambda _: None,
    *,
    resend: bool = False,
    summary: Summary | None = None,
) -> Summary:
    """Invite each entry (an address, or a username without `@`); a pending invitation skips,
    or with `resend` is sent again with a new expiry.

    Each invitation commits on its own, so an interrupted run resumes where it stopped and a
    re-run skips everyone already invited ("already has a pending invitation").
    """
    summary = summary if summary is not None else Summary()
    for entry in entries:
        kwargs = {"email": entry} if "@" in entry else {"username": entry}
        try:
            result = invitations.invite(sender, org, **kwargs)
        except UserError as exc:
            _not_invited(sender, org, entry, str(exc), resend, summary)
        else:
            (summary.sent if result.sent_email else summary.invited_without_email).append(entry)
        progress(entry)
    return summary


def _not_invited(
    sender: User, org: Organization, entry: str, reason: str, resend: bool, summary: Summary
) -> None:
    already = "pending invitation" in reason or "already a member" in reason
    if not already:
        summary.failed.append((entry, reason))
        return
    pending = _pending_for(org, entry) if resend and "pending invitation" in reason else None
    if pending is None:
        summary.skipped.append((entry, reason))
        return
    try:
        invitations.resend(sender, pending)
    except UserError as exc:
        summary.failed.append((entry, str(exc)))
    else:
        summary.resent.append(entry)


def _pending_for(org: Organization, entry: str) -> OrganizationInvitation | None:
    rows = OrganizationInvitation.objects.filter(
        org=org, revoked_at__isnull=True, responded_at__isnull=True, expires_at__gt=timezone.now()
    )
    if "@" in entry:
        return rows.filter(recipient_email__iexact=entry).first()
    return rows.filter(recipient__username__iexact=entry).first()
