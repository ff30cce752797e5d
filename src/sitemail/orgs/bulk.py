"""Bulk organization invitations (the CLI): one invitation per address, never twice."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sitemail.accounts.models import User
from sitemail.accounts.users import UserError
from sitemail.orgs import invitations
from sitemail.orgs.models import Organization


@dataclass
class Summary:
    sent: list[str] = field(default_factory=list)
    # Invited, but no email will be delivered (email disabled): the link is still valid.
    invited_without_email: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)


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
) -> Summary:
    """Invite each entry (an address, or a username without `@`); a pending invitation skips.

    Each invitation commits on its own, so an interrupted run resumes where it stopped and a
    re-run skips everyone already invited ("already has a pending invitation").
    """
    summary = Summary()
    for entry in entries:
        kwargs = {"email": entry} if "@" in entry else {"username": entry}
        try:
            result = invitations.invite(sender, org, **kwargs)
        except UserError as exc:
            summary.skipped.append((entry, str(exc)))
        else:
            (summary.sent if result.sent_email else summary.invited_without_email).append(entry)
        progress(entry)
    return summary
