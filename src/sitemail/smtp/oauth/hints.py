"""What to fix, for a token endpoint's error and for an SMTP server's reply to a bearer token."""

from __future__ import annotations

import re

# Microsoft identity platform error codes (AADSTS<n>) seen when sending over SMTP.
_AADSTS = {
    7000215: (
        "the client secret is wrong: set email.smtp.oauth.clientSecret to the secret's Value "
        "(not its ID) from Certificates & secrets in Microsoft Entra, or create a new one"
    ),
    7000222: (
        "the client secret has expired: create a new one and set email.smtp.oauth.clientSecret"
    ),
    700016: (
        "no application with this client ID in the tenant: check email.smtp.oauth.clientID "
        "and tenantID (the app must be registered in, or consented to by, that tenant)"
    ),
    90002: "no such tenant: check email.smtp.oauth.tenantID (the directory ID or domain)",
    700027: (
        "the certificate was not accepted: upload its public part to the app registration "
        "(Certificates & secrets) and check email.smtp.oauth.certificate"
    ),
    70011: "the scope is not valid: remove email.smtp.oauth.scope to use the default",
    65001: "the app has no admin consent: grant it in Microsoft Entra (API permissions)",
    700082: "the connected account's sign-in has expired: Connect account again in the console",
    50173: "the connected account's password changed: Connect account again in the console",
}

_OAUTH_ERRORS = {
    "invalid_client": (
        "the token endpoint rejected the client: check email.smtp.oauth.clientID and clientSecret"
    ),
    "unauthorized_client": (
        "the client may not use this grant: for Google, authorize the service account's "
        "client ID for https://mail.google.com/ in the Admin console (Security > API controls "
        "> Domain-wide delegation)"
    ),
    "invalid_scope": "the scope is not valid: check email.smtp.oauth.scope",
}

GOOGLE_INVALID_GRANT = (
    "the service account may not act for email.smtp.username: enable domain-wide delegation "
    "for its client ID with scope https://mail.google.com/ (Admin console > Security > API "
    "controls), and check the username is a mailbox of the Workspace domain"
)
REFRESH_INVALID_GRANT = (
    "the connected account's refresh token was revoked or has expired: Connect account again "
    "in the console"
)


def token_error_hint(error: str, description: str, grant: str, provider: str) -> str | None:
    """The hint for an OAuth 2.0 error reply (RFC 6749 5.2) from the token endpoint."""
    match = re.search(r"AADSTS(\d+)", description)
    if match is not None and int(match.group(1)) in _AADSTS:
        return _AADSTS[int(match.group(1))]
    if error == "invalid_grant":
        if grant == "refresh_token":
            return REFRESH_INVALID_GRANT
        if provider == "google" or grant == "jwt_bearer":
            return GOOGLE_INVALID_GRANT
        return "the token endpoint refused the grant: check email.smtp.oauth"
    return _OAUTH_ERRORS.get(error)


# Enhanced status codes (RFC 3463) servers use for bearer tokens, mapped to the fix.
_SMTP_HINTS = {
    "5.7.139": (
        "SMTP AUTH is disabled for the tenant or this mailbox: enable Authenticated SMTP for "
        "the mailbox (Microsoft 365 admin center > the user > Mail > Manage email apps) or "
        "Set-CASMailbox -SmtpClientAuthenticationDisabled $false"
    ),
    "5.7.3": (
        "the token was refused: the app lacks the SMTP.SendAsApp permission (with admin "
        "consent) or access to this mailbox (New-ServicePrincipal and Add-MailboxPermission "
        "in Exchange Online PowerShell), or email.smtp.username is not that mailbox"
    ),
    "5.7.60": (
        "this account may not send as email.address: set email.address to the mailbox of "
        "email.smtp.username, or give it Send As permission for that address"
    ),
    "5.7.30": "basic authentication is not supported: use XOAUTH2 with email.smtp.oauth",
}
GOOGLE_BAD_CREDENTIALS = (
    "Google refused the token: check the service account's domain-wide delegation for "
    "https://mail.google.com/ and that email.smtp.username is the mailbox"
)


OAUTH_REFUSED_HINT = (
    "the server refused the OAuth 2.0 token: check that email.smtp.username is the mailbox the "
    "app (or connected account) may send as, and the app's SMTP permission"
)


def smtp_hint(text: str) -> str | None:
    """The fix for a reply whose enhanced status code names it (any mechanism, any step)."""
    for code, hint in _SMTP_HINTS.items():
        if re.search(rf"(?<![\d.]){re.escape(code)}(?![\d])", text):
            return hint
    return None


def bearer_refused_hint(text: str) -> str:
    """The fix when AUTH XOAUTH2/OAUTHBEARER is refused."""
    if "5.7.8" in text or "BadCredentials" in text:  # Gmail's "Username and Password not accepted"
        return smtp_hint(text) or GOOGLE_BAD_CREDENTIALS
    return smtp_hint(text) or OAUTH_REFUSED_HINT
