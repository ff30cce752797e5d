"""One line of an SMTP conversation as seen by sitemail, for diagnostics; never holds secrets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sitemail.smtp.errors import Step


@dataclass(frozen=True)
class TraceEvent:
    """A step of the conversation: what happened, the server's reply, how long it took.

    `summary` is written by the transport and never contains a password or an AUTH payload.
    `details` holds structured values for the admin page (address, tls_version, cipher,
    subject, issuer, not_after, capabilities, ...).
    """

    step: Step
    summary: str
    ok: bool = True
    code: int | None = None
    reply: str | None = None
    duration_ms: float | None = None
    details: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """`[ehlo] ok 12 ms: capabilities ... -> 250 mail.test` style, for logs and the UI."""
        parts = [f"[{self.step.value}] {'ok' if self.ok else 'FAILED'}"]
        if self.duration_ms is not None:
            parts.append(f" {self.duration_ms:.0f} ms")
        parts.append(f": {self.summary}")
        if self.code is not None:
            reply = " ".join((self.reply or "").split())
            parts.append(f" -> {self.code} {reply}".rstrip())
        return "".join(parts)


Tracer = Callable[[TraceEvent], None]
