"""The one address rule: strict syntax, any domain a self-hosted instance may live on.

Every address sitemail takes (email.address, user emails, invitations, the test email, the CLI,
every recipient of a built message) is checked here, so all of them agree:
- syntax is strict (email-validator: no CR/LF, no display name, no comments, ASCII local parts
  since delivery would need SMTPUTF8), and an RFC 2047 encoded word (`=?utf-8?q?...?=`) is
  refused anywhere in it: mail readers would decode it into a header (RFC 2047 section 5
  forbids encoded words in an addr-spec);
- internal and special-use domains are accepted (`corp.local`, `git.test`, `host.home.arpa`,
  single-label `intranet`): self-hosted instances live on them, and DNS is never asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import email_validator
from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 320
ENCODED_WORD = "=?"  # how an RFC 2047 encoded word starts
# email-validator refuses these names even with globally_deliverable=False; its documented knob
# is this module-level list. Keep refusing only names that can never receive mail.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = ["invalid", "onion"]


class AddressError(ValueError):
    """Not an acceptable address; the message says why (without the address itself)."""


@dataclass(frozen=True)
class Parsed:
    normalized: str  # what to store and show (domain lower-cased, IDN in Unicode)
    local: str
    ascii_domain: str  # what goes on the wire (IDN in punycode)

    @property
    def addr_spec(self) -> str:
        return f"{self.local}@{self.ascii_domain}"


def parse(value: str) -> Parsed:
    """The checked address, or AddressError with the reason."""
    if not isinstance(value, str):
        raise AddressError(f"expected an email address, got {type(value).__name__}")
    if len(value) > MAX_LENGTH:
        raise AddressError(f"too long (at most {MAX_LENGTH} characters)")
    if ENCODED_WORD in value:
        raise AddressError("an encoded word (=?...?=) cannot be part of an address")
    try:
        result = validate_email(
            value,
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=True,
            allow_smtputf8=False,
        )
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from exc
    assert result.ascii_email is not None  # always set when allow_smtputf8 is False
    local, _, domain = result.ascii_email.rpartition("@")
    return Parsed(result.normalized, local, domain)
