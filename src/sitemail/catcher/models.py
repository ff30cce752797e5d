"""Caught mail: what the built-in catcher received, as it arrived."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from django.db import models


class CaughtMail(models.Model):
    mail_from = models.CharField(max_length=320)
    rcpt_tos = models.JSONField(default=list)
    subject = models.CharField(max_length=998, default="")
    data = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "caught_mail"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.subject

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(bytes(self.data), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    def part(self, subtype: str) -> str:
        body = self.parsed().get_body(preferencelist=(subtype,))
        if body is None or body.get_content_subtype() != subtype:
            return ""
        content = body.get_content()
        return str(content)
