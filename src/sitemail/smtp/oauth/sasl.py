"""AUTH XOAUTH2 (Google's and Microsoft's) and AUTH OAUTHBEARER (RFC 7628) with a bearer token."""

from __future__ import annotations

import base64
import binascii

import aiosmtplib

from sitemail.smtp.errors import AuthError, ReplyCode, Step
from sitemail.smtp.oauth.hints import bearer_refused_hint


def initial_response(mechanism: str, username: str, token: str) -> bytes:
    """The base64 client response. SECURITY: it holds the token; never trace or log it."""
    if mechanism == "XOAUTH2":
        raw = f"user={username}\x01auth=Bearer {token}\x01\x01"
    else:  # RFC 7628 3.1: GS2 header "n,a=<authzid>," then key/value pairs
        authzid = username.replace("=", "=3D").replace(",", "=2C")  # RFC 5801 saslname
        raw = f"n,a={authzid},\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode())


async def authenticate(
    client: aiosmtplib.SMTP, mechanism: str, username: str, token: str, timeout: float
) -> aiosmtplib.SMTPResponse:
    """One AUTH exchange; AuthError carries the final reply, the server's error JSON and a hint."""
    response = await client.execute_command(
        b"AUTH", mechanism.encode(), initial_response(mechanism, username, token), timeout=timeout
    )
    detail = ""
    if response.code == ReplyCode.AUTH_CONTINUE:
        # The error challenge (RFC 7628 3.2.2: JSON with status, schemes, scope); the client
        # answers with an empty line (XOAUTH2) or %x01 (OAUTHBEARER), then gets the failure.
        detail = _challenge(response.message)
        reply = b"" if mechanism == "XOAUTH2" else base64.b64encode(b"\x01")
        response = await client.execute_command(reply, timeout=timeout)
    if response.code == ReplyCode.AUTH_OK:
        return response
    text = " ".join(response.message.split())
    if detail:
        text = f"{text} (server: {detail})"
    raise AuthError(Step.AUTH, text, code=response.code, hint=bearer_refused_hint(text))


def _challenge(message: str) -> str:
    try:
        return base64.b64decode(message.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return message.strip()
