"""Read a report that came back by mail: an RFC 3464 delivery status notification, an RFC 5965
(ARF) complaint, or a non-standard bounce (flufl.bounce's detectors, which know Exim's, qmail's,
Yahoo's and other formats). Anything else is not a report.

Pure: bytes in, a Parsed out; never raises on malformed input (tests fuzz it).
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

from flufl.bounce import all_failures

from sitemail.deliverability.models import Bounce, EventType

log = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs at INFO (a dozen lines per message, most of the
# parse time when a handler writes them) and a traceback for each detector that chokes on a
# malformed message, which parse() then treats as not a report.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # its detector errors: ours to count

_STATUS = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_MAX_BYTES = 2_000_000  # a report larger than this is not a report


@dataclass
class Recipient:
    """One recipient a report is about."""

    type: EventType
    address: str
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    bounce: Bounce | None = None


@dataclass
class Parsed:
    """What a report says. `kind` is "dsn", "arf", "bounce" (non-standard) or "" (not one)."""

    kind: str = ""
    recipients: list[Recipient] = field(default_factory=list)
    message_id: str = ""  # the original message's Message-ID, when the report includes it
    feedback_id: str = ""  # the report's own Message-ID (dedupe of a re-sent report)


def _text(value: object) -> str:
    text = str(value or "")
    return " ".join(text.split())[:2000]


def _typed(value: object) -> str:
    """`rfc822; a@example.com` -> `a@example.com` (RFC 3464 address-type; value)."""
    text = _text(value)
    _, semi, rest = text.partition(";")
    return (rest if semi else text).strip().strip("<>")


def _status(value: object) -> str:
    match = _STATUS.match(_text(value))
    return ".".join(match.groups()) if match else ""


def _original_message_id(msg: Message) -> str:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return _message_id(inner.get("Message-ID"))
        if ctype in ("text/rfc822-headers", "text/rfc822-header"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                headers = email.message_from_bytes(payload, policy=compat32)
                if headers.get("Message-ID"):
                    return _message_id(headers.get("Message-ID"))
    return ""


def _message_id(value: object) -> str:
    match = _MESSAGE_ID.search(_text(value))
    return match.group(0) if match else ""


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    return []


def _dsn(part: Message) -> list[Recipient]:
    """The per-recipient blocks of one message/delivery-status part (the first block is the
    per-message one)."""
    out: list[Recipient] = []
    blocks = _blocks(part)
    per_message = blocks[0] if blocks else None
    mta = _typed(per_message.get("Reporting-MTA")) if per_message is not None else ""
    for block in blocks[1:]:
        address = _typed(block.get("Final-Recipient") or block.get("Original-Recipient"))
        action = _text(block.get("Action")).lower()
        status = _status(block.get("Status"))
        if not address or "@" not in address:
            continue
        if action == "failed":
            kind = EventType.BOUNCED
        elif action == "delayed":
            kind = EventType.DEFERRED
        elif action == "delivered":  # not relayed or expanded: those were not delivered yet
            kind = EventType.DELIVERED
        else:
            continue  # RFC 3464 2.3.3 knows no other action: not a report we can act on
        if kind == EventType.BOUNCED and not status.startswith(("4.", "5.")):
            continue  # "failed" without a failure status is malformed: never suppress on it
        out.append(
            Recipient(
                kind,
                address,
                status=status,
                diagnostic=_typed(block.get("Diagnostic-Code")),
                remote_mta=_typed(block.get("Remote-MTA")) or mta,
            )
        )
    return out


def _arf(part: Message, msg: Message) -> list[Recipient]:
    """RFC 5965: the message/feedback-report part's fields (or its text, if not parsed)."""
    fields: Message | None = None
    blocks = _blocks(part)
    if blocks:
        fields = blocks[0]
    else:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            fields = email.message_from_bytes(payload, policy=compat32)
    if fields is None:
        return []
    feedback = _text(fields.get("Feedback-Type")).lower()
    if feedback not in ("abuse", "fraud", "virus", "other", "not-spam"):
        return []
    if feedback == "not-spam":
        return []
    address = _typed(fields.get("Original-Rcpt-To"))
    if not address:
        address = _original_header(msg, "To")
    if "@" not in address:
        return []
    return [Recipient(EventType.COMPLAINED, address, diagnostic=f"feedback-type: {feedback}")]


def _original_header(msg: Message, name: str) -> str:
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload(0) if part.is_multipart() else None
            if isinstance(inner, Message):
                _, addr = email.utils.parseaddr(_text(inner.get(name)))
                return addr
    return ""


_MTA_SENDERS = ("mailer-daemon", "postmaster", "mail delivery", "mdaemon", "bounce")


def _from_an_mta(msg: Message) -> bool:
    """Bounces come from the MTA (MAILER-DAEMON, postmaster, "Mail Delivery System"...) or say
    which recipients failed; an out-of-office reply from the person does neither and must not
    reach the heuristic detectors, which would take the addresses it quotes for bounces."""
    sender = _text(msg.get("From")).lower()
    return bool(msg.get("X-Failed-Recipients")) or any(s in sender for s in _MTA_SENDERS)


def _non_standard(msg: Message) -> list[Recipient]:
    if not _from_an_mta(msg):
        return []
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on a malformed message: not a report then
        log.debug("deliverability: flufl.bounce failed on a message", exc_info=True)
        return []
    out = [
        Recipient(EventType.BOUNCED, a.decode("ascii", "replace"), bounce=Bounce.HARD)
        for a in sorted(permanent)
    ]
    out += [
        Recipient(EventType.DEFERRED, a.decode("ascii", "replace"))
        for a in sorted(temporary - permanent)
    ]
    return [r for r in out if "@" in r.address]


def parse(data: bytes) -> Parsed:
    """What the report `data` says; Parsed(kind="") when it is not one (or is malformed)."""
    if len(data) > _MAX_BYTES:
        return Parsed()
    try:
        return _parse(email.message_from_bytes(data, policy=compat32))
    except Exception:  # malformed MIME in ways the parser does not forgive
        log.debug("deliverability: unparsable report", exc_info=True)
        return Parsed()


def _parse(msg: Message) -> Parsed:
    feedback_id = _message_id(msg.get("Message-ID"))
    dsn_parts = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    arf_parts = [p for p in msg.walk() if p.get_content_type() == "message/feedback-report"]
    recipients: list[Recipient] = []
    kind = ""
    if arf_parts:
        kind = "arf"
        for part in arf_parts:
            recipients += _arf(part, msg)
    elif dsn_parts:
        kind = "dsn"
        for part in dsn_parts:
            recipients += _dsn(part)
    else:
        recipients = _non_standard(msg)
        kind = "bounce" if recipients else ""
    if not recipients:
        return Parsed()
    return Parsed(kind, recipients, _original_message_id(msg), feedback_id)
