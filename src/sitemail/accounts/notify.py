"""Emails about an account, enqueued in the caller's transaction to its verified primary address."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sitemail import outbox
from sitemail.accounts.models import User, UserEmail
from sitemail.mail.build import MailBuildError
from sitemail.siteconfig import service as siteconfig

log = logging.getLogger(__name__)


def primary_address(user: User) -> str | None:
    row = UserEmail.objects.filter(user=user, is_primary=True, verified_at__isnull=False).first()
    return row.email if row is not None else None


def email_enabled() -> bool:
    return siteconfig.get_settings().email.enabled


def send(
    kind: str, to: str, context: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> bool:
    """Enqueue one email; a site without a usable From address logs instead of failing the change.

    Returns whether a message will actually be delivered (email enabled and enqueued).
    """
    try:
        row = outbox.enqueue(kind, to, context, headers=headers)
    except MailBuildError as exc:
        # Never log the context: it may hold a link with a code.
        log.warning("could not enqueue a %s email to %s: %s", kind, to, exc)
        return False
    return bool(row.status == "queued")


def account_update(user: User, message: str, to: str | None = None) -> bool:
    """`Update to your PRODUCT account (HOST)` to `to` or the verified primary address."""
    address = to or primary_address(user)
    if address is None:
        return False
    return send("account_update", address, {"username": user.username, "message": message})
