"""The SMTP form: provider presets and saving `email.*` keys without hand-written JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.redact import REDACTED
from sitemail.siteconfig.typed import SiteSettings
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
        'credentials created in the SES console, or enter an IAM access key under "Amazon SES '
        'with an IAM access key" below: the IAM secret itself is not the SMTP password.',
    ),
    Preset(
        "google-oauth",
        "Google Workspace (OAuth 2.0)",
        "smtp.gmail.com",
        587,
        "starttls",
        "XOAUTH2",
        "Username: the sending mailbox. Set email.smtp.oauth to "
        '{"provider": "google", "serviceAccountKey": <the JSON key>} for a service account '
        "with domain-wide delegation of https://mail.google.com/, or to "
        '{"provider": "google", "clientID", "clientSecret"} and use Connect account.',
    ),
    Preset(
        "google-app-password",
        "Google Workspace (app password)",
        "smtp.gmail.com",
        587,
        "starttls",
        "PLAIN",
        "Sign in with the mailbox and an app password (needs 2-Step Verification); Google "
        "refuses the account password itself.",
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
        "Office 365 / Exchange Online (OAuth 2.0)",
        "smtp.office365.com",
        587,
        "starttls",
        "XOAUTH2",
        "Username: the sending mailbox. Register an app in Microsoft Entra with the "
        "SMTP.SendAsApp permission (admin consent), register its service principal in Exchange "
        "Online with access to the mailbox, then set email.smtp.oauth to "
        '{"provider": "microsoft", "tenantID", "clientID", "clientSecret"}. SMTP AUTH must be '
        "enabled for the mailbox.",
    ),
    Preset(
        "office365-basic",
        "Office 365 Basic auth (legacy, being retired)",
        "smtp.office365.com",
        587,
        "starttls",
        "LOGIN",
        "Being retired: Microsoft disables Basic authentication for SMTP AUTH by default from "
        "the end of December 2026 (MC786329); logins then fail with 535 5.7.139. Use the OAuth "
        "2.0 preset. Until then: a licensed mailbox and its password, SMTP AUTH enabled for it.",
    ),
)

TLS_MODES = rules.TLS_MODES
MECHANISMS = rules.AUTH_CHOICES


def presets_json() -> list[dict[str, Any]]:
    return [asdict(p) for p in PRESETS]


@dataclass(frozen=True)
class SMTPForm:
    """The form's fields, as shown: a stored credential is never shown, only that it is set."""

    address: str = ""
    sender_name: str = ""
    host: str = ""
    port: str = "587"
    tls: str = "auto"
    authentication: str = "PLAIN"
    username_set: bool = False
    password_set: bool = False
    domain: str = ""
    no_verify_tls: bool = False


def current_form() -> SMTPForm:
    """The form filled from the current document; stored credentials show as "(stored)"."""
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
        username_set=bool(smtp.get("username")),
        password_set=bool(smtp.get("password")),
        domain=str(smtp.get("domain") or ""),
        no_verify_tls=smtp.get("noVerifyTLS") is True,
    )


def save_form(data: Mapping[str, str], author: User | None = None) -> int:
    """Set the `email.*` keys from the posted form, keeping comments and other keys.

    An empty username or password keeps the stored one (the form never shows it; "REDACTED" too),
    "clear_username" / "clear_password" remove it. Raises SiteConfigError with every problem,
    each led by its JSON path.
    """
    return siteconfig.patch(form_values(data), author, comment=None)


def form_settings(data: Mapping[str, str]) -> SiteSettings:
    """The settings the posted form would save, unsaved (for "Send test email")."""
    return siteconfig.preview(values=form_values(data))


def form_values(data: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
    """The site configuration paths and values the posted form sets; SiteConfigError if wrong."""
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
    values.update(_credentials(data, auth))
    return values


def _credentials(data: Mapping[str, str], auth: str) -> dict[tuple[str, ...], Any]:
    """Username and password paths: typed values replace, "clear" empties, blank keeps."""
    values: dict[tuple[str, ...], Any] = {}
    for name in ("username", "password"):
        typed = data.get(name, "")
        typed = typed.strip() if name == "username" else typed
        if data.get(f"clear_{name}") in ("on", "true", "1"):
            values[("email.smtp", name)] = ""
        elif typed and typed != REDACTED:
            values[("email.smtp", name)] = typed
        elif name == "password" and auth != "none" and not rules.uses_oauth(auth):
            # XOAUTH2/OAUTHBEARER send a token from email.smtp.oauth: no password to keep.
            if not current_form().password_set:
                raise SiteConfigError(
                    [f'email.smtp.password: authentication "{auth}" needs the password']
                )
    return values


# The form field that sets each site configuration path, so a problem shows beside its control.
FIELD_FOR_PATH = {
    "email.address": "address",
    "email.senderName": "sender_name",
    "email.smtp.host": "host",
    "email.smtp.port": "port",
    "email.smtp.tls": "tls",
    "email.smtp.authentication": "authentication",
    "email.smtp.username": "username",
    "email.smtp.password": "password",
    "email.smtp.domain": "domain",
    "email.smtp.noVerifyTLS": "no_verify_tls",
}


def problems_by_field(problems: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split problems ("path: message") into those a form field owns and the rest."""
    owned: dict[str, list[str]] = {}
    rest: list[str] = []
    for problem in problems:
        path, _, message = problem.partition(": ")
        name = FIELD_FOR_PATH.get(path)
        if name is None:
            rest.append(problem)
        else:
            owned.setdefault(name, []).append(message)
    return owned, rest
