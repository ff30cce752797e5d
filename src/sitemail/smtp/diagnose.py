"""The send-test-email transcript: one full send with every step traced (secrets masked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp.errors import MailError
from sitemail.smtp.trace import TraceEvent
from sitemail.smtp.transport import SMTPTransport


@dataclass
class Transcript:
    """What happened, step by step; `error` is the reason shown to the admin when not ok."""

    steps: list[TraceEvent] = field(default_factory=list)
    ok: bool = False
    error: MailError | None = None
    refused: dict[str, MailError] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [event.line() for event in self.steps]


async def diagnose(
    cfg: SMTPConfig, mail_from: str, to: str | Sequence[str], data: bytes
) -> Transcript:
    """Send `data` once over a fresh connection, recording connect, TLS, EHLO, AUTH,
    MAIL/RCPT/DATA and QUIT with replies and durations."""
    transcript = Transcript()
    transport = SMTPTransport(cfg, tracer=transcript.steps.append)
    rcpt_tos = [to] if isinstance(to, str) else list(to)
    try:
        transcript.refused = await transport.send(mail_from, rcpt_tos, data)
    except MailError as exc:
        transcript.error = exc
    finally:
        await transport.close()
    if transcript.error is None and transcript.refused:
        transcript.error = next(iter(transcript.refused.values()))
    transcript.ok = transcript.error is None
    return transcript
