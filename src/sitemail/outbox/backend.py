"""Django's EMAIL_BACKEND: `send_mail` and friends enqueue durable `django` kind outbox rows."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from sitemail.mail import address as address_rule
from sitemail.mail.build import address
from sitemail.mail.render import html_to_text
from sitemail.smtp import rules

log = logging.getLogger(__name__)

_ANGLE = re.compile(r"<([^<>\s]+)>\s*$")

KIND = "django"


def _parts(message: EmailMessage) -> dict[str, Any]:
    """The `django` kind's context: subject, text body and (when given) the HTML body."""
    body = str(message.body or "")
    html: str | None = None
    if message.content_subtype == "html":
        html, body = body, html_to_text(body)
    if isinstance(message, EmailMultiAlternatives):
        for alternative in message.alternatives:
            content, mimetype = alternative[0], alternative[1]
            if mimetype == "text/html" and html is None:
                html = str(content)
    context: dict[str, Any] = {"subject": str(message.subject or ""), "body": body}
    if html is not None:
        context["html"] = html
    return context


def _plain(addresses: Sequence[str]) -> list[str]:
    """Django accepts `Name <addr>`; the outbox addresses are plain (display names dropped)."""
    out = []
    for value in addresses:
        match = _ANGLE.search(value)
        addr = match[1] if match else value
        try:
            out.append(address_rule.parse(addr).normalized)
        except address_rule.AddressError:
            out.append(addr)  # left as it is for build() to reject, naming the field
    return out


def _headers(message: EmailMessage) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in (message.extra_headers or {}).items():
        # The site configuration owns From, Message-ID, etc.; Django's overrides of them are
        # dropped rather than failing the send.
        if rules.is_reserved_header(key) or key.lower() == "reply-to":
            log.debug("outbox backend: ignoring extra header %s", key)
            continue
        headers[key] = str(value)
    if message.reply_to:
        headers["Reply-To"] = ", ".join(address(a, "reply_to").addr_spec for a in message.reply_to)
    return headers


class OutboxEmailBackend(BaseEmailBackend):
    """One outbox row per message, in the caller's transaction; the worker delivers them.

    The From header is always the site's (`email.senderName <email.address>`); Bcc recipients
    are only in the envelope. Attachments are not supported.
    """

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        from sitemail.outbox.service import enqueue
        from sitemail.siteconfig import service as siteconfig

        if not email_messages:
            return 0
        settings = siteconfig.get_settings()
        count = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                if message.attachments:
                    raise ValueError("the outbox email backend does not support attachments")
                enqueue(
                    KIND,
                    _plain(message.to),
                    _parts(message),
                    settings=settings,
                    cc=_plain(message.cc),
                    bcc=_plain(message.bcc),
                    headers=_headers(message),
                )
            except Exception:
                if not self.fail_silently:
                    raise
                log.warning("outbox backend: could not enqueue a message", exc_info=True)
                continue
            count += 1
        return count
