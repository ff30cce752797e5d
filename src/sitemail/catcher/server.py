"""An aiosmtpd server that stores every message it receives in the caught_mail table."""

from __future__ import annotations

import email
import email.policy
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async

from sitemail.catcher import service

log = logging.getLogger(__name__)


class CatchingHandler:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not data:
            data = envelope.content
        subject = str(
            email.message_from_bytes(data, policy=email.policy.default).get("Subject", "")
        )
        row = await sync_to_async(service.store, thread_sensitive=False)(
            envelope.mail_from or "", list(envelope.rcpt_tos), subject, data
        )
        log.info("mail catcher: caught %r for %s", subject, ", ".join(envelope.rcpt_tos))
        # Like a server's queue id: the email log shows it, and /mailcatcher/<id> is the mail.
        return f"250 2.0.0 OK: caught as {row.pk}"


def start(host: str = "127.0.0.1", port: int = 2525, **kwargs: Any) -> Controller:
    """Start the catcher in a background thread; the caller stops it with `.stop()`."""
    controller = Controller(CatchingHandler(), hostname=host, port=port, **kwargs)
    controller.start()
    return controller
