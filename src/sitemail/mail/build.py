"""Build the wire bytes of one email (pure: no I/O): headers validated, envelope kept apart."""

from __future__ import annotations

import email.policy
import functools
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime

from email_validator import EmailNotValidError, validate_email

from sitemail.mail.headers import (
    address_list,
    is_field_name,
    mailbox,
    raw,
    unstructured,
)
from sitemail.mail.render import Rendered
from sitemail.siteconfig.typed import SiteSettings


class _HeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup; build each once."""

    @functools.cache  # noqa: B019 - one module-level instance, kept for the process
    def __getitem__(self, name: str) -> type[BaseHeader]:
        return super().__getitem__(name)


# RFC 5322 with CRLF line ends, folded at 78; bodies are quoted-printable so the bytes stay
# 7-bit clean for servers without 8BITMIME.
POLICY = email.policy.SMTP.clone(header_factory=_HeaderRegistry())

NO_FROM_ADDRESS = (
    "email.address is not set in the site configuration; set it to the From address, "
    "e.g. noreply@example.com"
)

# Headers sitemail writes itself (or never writes, like Bcc): an extra header may not add a
# second copy of one.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "auto-submitted",
        "content-type",
        "content-transfer-encoding",
    }
)

_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII except < > and space


class MailBuildError(ValueError):
    """The message cannot be built; `field` names the input or configuration key at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Prepared:
    """An envelope and the bytes to send: what a transport needs, nothing else."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message_id: str


@functools.lru_cache(maxsize=1024)
def _validated(value: str) -> tuple[str, str] | str:
    """(local part, ASCII domain), or the reason the address is invalid."""
    try:
        # No DNS: delivery is the SMTP server's business. Internal single-label domains are
        # fine on a self-hosted instance; non-ASCII local parts would need SMTPUTF8.
        result = validate_email(
            value,
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=True,
            allow_smtputf8=False,
        )
    except EmailNotValidError as exc:
        return str(exc)
    assert result.ascii_email is not None  # always set when allow_smtputf8 is False
    local, _, domain = result.ascii_email.rpartition("@")
    return local, domain


def address(value: str, field: str) -> Address:
    """A validated address (IDN domains in punycode) or MailBuildError naming `field`."""
    if not isinstance(value, str):
        raise MailBuildError(field, f"{field}: expected an email address, got {type(value)!r}")
    checked = _validated(value.strip())
    if isinstance(checked, str):
        raise MailBuildError(field, f"{field}: invalid email address {value!r}: {checked}")
    return Address(username=checked[0], domain=checked[1])


def _addresses(values: str | Sequence[str], field: str) -> list[Address]:
    items = [values] if isinstance(values, str) else list(values)
    return [address(v, field) for v in items]


def _extra_headers(
    settings: SiteSettings, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    sources: list[tuple[str, Iterable[tuple[str, str]]]] = [
        (
            "email.smtp.additionalHeaders",
            ((h.key, h.value) for h in settings.email.additional_headers),
        )
    ]
    if headers is not None:
        items = headers.items() if isinstance(headers, Mapping) else headers
        sources.append(("headers", items))
    for field, items in sources:
        for key, value in items:
            if not is_field_name(key):
                raise MailBuildError(field, f"{field}: invalid header name {key!r}")
            if key.lower() in RESERVED_HEADERS:
                raise MailBuildError(
                    field, f"{field}: {key!r} is set by sitemail and cannot be added"
                )
            # SECURITY: a CR or LF would end this header and start one of the caller's choosing.
            if "\r" in value or "\n" in value:
                raise MailBuildError(field, f"{field}: the value of {key!r} contains a line break")
            out.append((key, value))
    return out


def new_message_id(domain: str) -> str:
    """`<random@domain>`: 128 random bits, nothing about the host or time."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def build(
    settings: SiteSettings,
    to: str | Sequence[str],
    rendered: Rendered,
    *,
    message_id: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    cc: str | Sequence[str] = (),
    bcc: str | Sequence[str] = (),
    date: datetime | None = None,
) -> Prepared:
    """Serialise `rendered` for `to` as multipart/alternative (text, HTML) bytes, once.

    Bcc recipients are only in the envelope. `message_id` and `date` let a caller build a
    second copy of the same message (the redacted one kept after delivery).
    """
    if not settings.email.address:
        raise MailBuildError("email.address", NO_FROM_ADDRESS)
    sender = address(settings.email.address, "email.address")
    to_addrs = _addresses(to, "to")
    cc_addrs = _addresses(cc, "cc")
    bcc_addrs = _addresses(bcc, "bcc")
    if not (to_addrs or cc_addrs or bcc_addrs):
        raise MailBuildError("to", "to: at least one recipient is required")

    if message_id is None:
        message_id = new_message_id(sender.domain)
    elif not _MESSAGE_ID.fullmatch(message_id):
        raise MailBuildError("message_id", f"message_id: {message_id!r} is not <id@domain>")

    msg = EmailMessage(policy=POLICY)
    # Every header from outside input goes in pre-encoded (see headers.Folded for why).
    msg["From"] = mailbox("From", settings.email.sender_name or "", sender.addr_spec)
    if to_addrs:
        msg["To"] = address_list("To", [a.addr_spec for a in to_addrs])
    else:  # only Cc/Bcc: an empty group (RFC 5322 A.1.3) rather than no To at all
        msg["To"] = raw("To", "undisclosed-recipients:;")
    if cc_addrs:
        msg["Cc"] = address_list("Cc", [a.addr_spec for a in cc_addrs])
    msg["Subject"] = unstructured("Subject", rendered.subject)
    msg["Date"] = raw("Date", format_datetime(date or datetime.now(UTC)))
    msg["Message-ID"] = raw("Message-ID", message_id)
    msg["Auto-Submitted"] = raw("Auto-Submitted", "auto-generated")  # RFC 3834: no auto-replies
    msg["MIME-Version"] = raw("MIME-Version", "1.0")
    for key, value in _extra_headers(settings, headers):
        msg[key] = unstructured(key, value)
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # set_content adds it to the part too; it belongs on top only

    rcpt_tos: list[str] = []
    for a in (*to_addrs, *cc_addrs, *bcc_addrs):
        if a.addr_spec not in rcpt_tos:
            rcpt_tos.append(a.addr_spec)
    return Prepared(
        mail_from=sender.addr_spec,
        rcpt_tos=rcpt_tos,
        data=msg.as_bytes(),
        message_id=message_id,
    )
