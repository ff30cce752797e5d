"""Build the wire bytes of one email (pure: no I/O): headers validated, envelope kept apart."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.utils import format_datetime

from sitemail.mail.address import ENCODED_WORD, AddressError
from sitemail.mail.address import parse as parse_address
from sitemail.mail.headers import (
    LINESEP,
    address_list,
    is_field_name,
    mailbox,
    structured_ascii,
    unstructured,
)
from sitemail.mail.mime import alternative
from sitemail.mail.render import Rendered
from sitemail.siteconfig.typed import SiteSettings
from sitemail.smtp import rules

NO_FROM_ADDRESS = (
    "email.address is not set in the site configuration; set it to the From address, "
    "e.g. noreply@example.com"
)


_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII except < > and space

# An ASCII dot-atom local part (RFC 5322 3.2.3) of at most 64 characters: email-validator
# accepts it unchanged, so it needs no call of its own (see _validated).
_PLAIN_LOCAL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_EMAIL_MAX_LENGTH = 254  # RFC 3696 errata 1690, as email-validator checks it


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


def _check(value: str) -> tuple[str, str] | str:
    """The address rule's verdict: (local part, ASCII domain), or why the address is invalid."""
    try:
        parsed = parse_address(value)
    except AddressError as exc:
        return str(exc)
    return parsed.local, parsed.ascii_domain


@functools.lru_cache(maxsize=256)
def _domain(domain: str) -> str | None:
    """The ASCII form of a domain email-validator accepts, or None (then ask it in full)."""
    checked = _check(f"a@{domain}")
    return checked[1] if isinstance(checked, tuple) else None


@functools.lru_cache(maxsize=1024)
def _validated(value: str) -> tuple[str, str] | str:
    """(local part, ASCII domain), or the reason the address is invalid.

    email-validator costs ~0.1 ms an address, most of it on the domain, and bulk sends go to
    many addresses at few domains: a plain dot-atom local part is accepted as it is, as
    email-validator would, and the domain's verdict is cached. Anything else, and every
    error message, comes from email-validator itself (tests/mail check both agree).
    """
    local, at, domain = value.rpartition("@")
    plain = _PLAIN_LOCAL.fullmatch(local) and ENCODED_WORD not in local
    if at and plain and len(value) <= _EMAIL_MAX_LENGTH:
        ascii_domain = _domain(domain)
        if ascii_domain is not None and len(local) + 1 + len(ascii_domain) <= _EMAIL_MAX_LENGTH:
            return local, ascii_domain
    return _check(value)


def _addr_spec(value: str, field: str) -> tuple[str, str]:
    """(addr-spec, ASCII domain) of a validated address, or MailBuildError naming `field`."""
    if not isinstance(value, str):
        raise MailBuildError(field, f"{field}: expected an email address, got {type(value)!r}")
    checked = _validated(value.strip())
    if isinstance(checked, str):
        raise MailBuildError(field, f"{field}: invalid email address {value!r}: {checked}")
    return f"{checked[0]}@{checked[1]}", checked[1]


def address(value: str, field: str) -> Address:
    """A validated address (IDN domains in punycode) or MailBuildError naming `field`."""
    addr_spec, domain = _addr_spec(value, field)
    return Address(username=addr_spec.rpartition("@")[0], domain=domain)


def _addresses(values: str | Sequence[str], field: str) -> list[str]:
    items = [values] if isinstance(values, str) else values
    return [_addr_spec(v, field)[0] for v in items]


def _extra_headers(
    settings: SiteSettings, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    sources: list[tuple[str, Iterable[tuple[str, str]]]] = []
    if settings.email.additional_headers:
        sources.append(
            (
                "email.smtp.additionalHeaders",
                ((h.key, h.value) for h in settings.email.additional_headers),
            )
        )
    if headers:
        items = headers.items() if isinstance(headers, Mapping) else headers
        sources.append(("headers", items))
    for field, items in sources:
        for key, value in items:
            if not is_field_name(key):
                raise MailBuildError(field, f"{field}: invalid header name {key!r}")
            if rules.is_reserved_header(key):
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


@functools.lru_cache(maxsize=16)
def _from_field(sender_name: str, address: str) -> tuple[str, str]:
    """(From field line, envelope sender): the same for every message of a site."""
    addr_spec, _ = _addr_spec(address, "email.address")
    return _field("From", mailbox("From", sender_name, addr_spec)), addr_spec


def _date_field(date: datetime) -> str:
    """`Date: ...` CRLF; the same for every email enqueued within one second."""
    return _date_line(date.replace(microsecond=0), date.utcoffset())


@functools.lru_cache(maxsize=8)
def _date_line(date: datetime, offset: object) -> str:
    # `offset` is in the key: equal instants in two time zones are written differently.
    return f"Date: {format_datetime(date)}{LINESEP}"


def _field(name: str, value: str) -> str:
    """`Name: value` CRLF. SECURITY: a line break may only be a fold (CRLF then space), so no
    encoder bug can ever start a header of its own."""
    unfolded = value.replace(LINESEP + " ", "")
    if "\r" in unfolded or "\n" in unfolded:
        raise AssertionError(f"unsafe {name} field")
    return f"{name}: {value}{LINESEP}"


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

    The bytes are written directly (RFC 5322 with CRLF line ends, headers from the encoders in
    headers.py, bodies quoted-printable UTF-8 so they stay 7-bit clean for servers without
    8BITMIME), not through EmailMessage, which costs ten times as much. Bcc recipients are only
    in the envelope. `message_id` and `date` let a caller build a second copy of the same
    message (the redacted one kept after delivery).
    """
    if not settings.email.address:
        raise MailBuildError("email.address", NO_FROM_ADDRESS)
    from_field, sender = _from_field(settings.email.sender_name or "", settings.email.address)
    to_addrs = _addresses(to, "to")
    cc_addrs = _addresses(cc, "cc")
    bcc_addrs = _addresses(bcc, "bcc")
    if not (to_addrs or cc_addrs or bcc_addrs):
        raise MailBuildError("to", "to: at least one recipient is required")

    if message_id is None:
        message_id = new_message_id(sender.rpartition("@")[2])
    elif not _MESSAGE_ID.fullmatch(message_id):
        raise MailBuildError("message_id", f"message_id: {message_id!r} is not <id@domain>")

    # Every header from outside input is encoded and folded by headers.py (see headers.Folded
    # for the CPython bug that is about); the rest are ASCII sitemail generated itself.
    fields = [from_field]
    if to_addrs:
        fields.append(_field("To", address_list("To", to_addrs)))
    else:  # only Cc/Bcc: an empty group (RFC 5322 A.1.3) rather than no To at all
        fields.append("To: undisclosed-recipients:;" + LINESEP)
    if cc_addrs:
        fields.append(_field("Cc", address_list("Cc", cc_addrs)))
    fields.append(_field("Subject", unstructured("Subject", rendered.subject)))
    fields.append(_date_field(date or datetime.now(UTC)))
    fields.append(f"Message-ID: {message_id}{LINESEP}")
    fields.append("Auto-Submitted: auto-generated" + LINESEP)  # RFC 3834: no auto-replies
    fields.append("MIME-Version: 1.0" + LINESEP)
    for key, value in _extra_headers(settings, headers):
        # List-* headers hold URLs (RFC 2369): an encoded word there is no link at all.
        raw = structured_ascii(key, value) if key.lower().startswith("list-") else None
        fields.append(_field(key, raw if raw is not None else unstructured(key, value)))
    content_type, body = alternative(rendered.text, rendered.html)
    fields.append(content_type)

    rcpt_tos = list(dict.fromkeys((*to_addrs, *cc_addrs, *bcc_addrs)))  # first of each, in order
    return Prepared(
        mail_from=sender,
        rcpt_tos=rcpt_tos,
        data="".join(fields).encode("ascii") + body,
        message_id=message_id,
    )
