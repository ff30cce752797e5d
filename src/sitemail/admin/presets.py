"""The SMTP form: provider presets and saving `email.*` keys without hand-written JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.redact import REDACTED
from sitemail.smtp import rules

if TYPE_CHECKING:
    from sitemail.accounts.models import User


@dataclass(frozen=True)
class Preset:
    """A provider's host, port, TLS mode and mechanism; the admin adds the credentials."""

    id: str
    name: str
    host: str
    port: int
    tls: str
    authentication: str
    note: str
    username: str = ""  # prefilled only where the provider fixes it (SendGrid's "apikey")


PRESETS: tuple[Preset, ...] = (
    Preset(
        "ses",
        "Amazon SES",
        "email-smtp.us-east-1.amazonaws.com",
        587,
        "starttls",
        "PLAIN",
        "Use your region's endpoint (email-smtp.<region>.amazonaws.com) and the SMTP "
        "credentials created in the SES console (not your AWS access keys).",
    ),
    Preset(
        "google",
        "Google Workspace SMTP relay",
        "smtp-relay.gmail.com",
        587,
        "starttls",
        "PLAIN",
        "Enable the SMTP relay service in the Google Admin console; sign in with a Workspace "
        "user and an app password, or allow this server's IP and set authentication to none.",
    ),
    Preset(
        "sendgrid",
        "SendGrid",
        "smtp.sendgrid.net",
        587,
        "starttls",
        "PLAIN",
        'The username is literally "apikey"; the password is a SendGrid API key with Mail Send '
        "permission.",
        username="apikey",
    ),
    Preset(
        "mandrill",
        "Mailchimp Transactional (Mandrill)",
        "smtp.mandrillapp.com",
        587,
        "starttls",
        "PLAIN",
        "Any username (your Mailchimp login) and a Mandrill API key as the password.",
    ),
    Preset(
        "office365",
        "Office 365 / Exchange Online",
        "smtp.office365.com",
        587,
        "starttls",
        "LOGIN",
        "Sign in with a licensed mailbox; SMTP AUTH must be enabled for it in the Microsoft 365 "
        "admin center. The From address must be that mailbox (or one it may send as).",
    ),
)

TLS_MODES = rules.TLS_MODES
MECHANISMS = rules.AUTH_CHOICES


def presets_json() -> list[dict[str, Any]]:
    return [asdict(p) for p in PRESETS]


@dataclass(frozen=True)
class SMTPForm:
    """The form's fields, as shown: secrets are REDACTED when stored, never their values."""

    address: str = ""
    sender_name: str = ""
    host: str = ""
    port: str = "587"
    tls: str = "auto"
    authentication: str = "PLAIN"
    username: str = ""
    password_set: bool = False
    domain: str = ""
    no_verify_tls: bool = False


def current_form() -> SMTPForm:
    """The form filled from the current document (username shown as REDACTED, like the editor)."""
    raw = siteconfig.get_settings().raw
    smtp = raw.get("email.smtp")
    smtp = smtp if isinstance(smtp, dict) else {}
    return SMTPForm(
        address=str(raw.get("email.address") or ""),
        sender_name=str(raw.get("email.senderName") or ""),
        host=str(smtp.get("host") or ""),
        port=str(smtp.get("port") or "587"),
        tls=str(smtp.get("tls") or "auto"),
        authentication=str(smtp.get("authentication") or "PLAIN"),
        username=REDACTED if smtp.get("username") else "",
        password_set=bool(smtp.get("password")),
        domain=str(smtp.get("domain") or ""),
        no_verify_tls=smtp.get("noVerifyTLS") is True,
    )


def save_form(data: Mapping[str, str], author: User | None = None) -> int:
    """Set the `email.*` keys from the posted form, keeping comments and other keys.

    An empty password keeps the stored one (the form never shows it); "REDACTED" keeps a stored
    username. Raises SiteConfigError with every problem, each led by its JSON path.
    """
    problems: list[str] = []
    host = data.get("host", "").strip()
    if not host:
        problems.append('email.smtp.host: required; pick a provider or type "smtp.example.com"')
    port_text = data.get("port", "").strip()
    port = int(port_text) if port_text.isdigit() else 0
    if not 1 <= port <= 65535:
        problems.append("email.smtp.port: use a number between 1 and 65535 (587 or 465)")
    tls = data.get("tls", "auto")
    auth = data.get("authentication", "PLAIN")
    if tls not in TLS_MODES:
        problems.append(f"email.smtp.tls: one of {', '.join(TLS_MODES)}")
    if auth not in MECHANISMS:
        problems.append(f"email.smtp.authentication: one of {', '.join(MECHANISMS)}")
    if problems:
        raise SiteConfigError(problems)

    values: dict[tuple[str, ...], Any] = {}
    if address := data.get("address", "").strip():
        values[("email.address",)] = address
    if sender := data.get("sender_name", "").strip():
        values[("email.senderName",)] = sender
    values.update(
        {
            ("email.smtp", "host"): host,
            ("email.smtp", "port"): port,
            ("email.smtp", "tls"): tls,
            ("email.smtp", "authentication"): auth,
            ("email.smtp", "noVerifyTLS"): data.get("no_verify_tls") in ("on", "true", "1"),
        }
    )
    if domain := data.get("domain", "").strip():
        values[("email.smtp", "domain")] = domain
    if auth != "none":
        username = data.get("username", "").strip()
        password = data.get("password", "")
        if username:
            values[("email.smtp", "username")] = username
        # The form never echoes a stored password: blank means "keep it".
        values[("email.smtp", "password")] = password or REDACTED
        if not password and not current_form().password_set:
            raise SiteConfigError(
                [f'email.smtp.password: authentication "{auth}" needs the password']
            )
    return siteconfig.patch(values, author, comment=None)
