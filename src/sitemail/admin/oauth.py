"""Site-admin OAuth 2.0 and Amazon SES pages: Connect account (start and callback) and the SES
IAM-key form. Thin: the flow is smtp/oauth/connect.py, the derivation smtp/ses.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from sitemail.accounts.models import User
from sitemail.admin.views import site_admin
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.typed import OAuthConfig
from sitemail.smtp import ses
from sitemail.smtp.errors import MailError
from sitemail.smtp.oauth import connect

_PENDING = "smtp_oauth_pending"
NOTICE = "smtp_oauth_notice"  # (ok, text) shown once on the configuration page
_BACK = "/site-admin/configuration#smtp-oauth"


def _connectable() -> tuple[OAuthConfig | None, str]:
    smtp = siteconfig.get_settings().email.smtp
    return connect.connectable(smtp), (smtp.username if smtp and smtp.username else "")


def _back(request: HttpRequest, ok: bool, text: str) -> HttpResponseRedirect:
    request.session[NOTICE] = [ok, text]
    return HttpResponseRedirect(_BACK)


@site_admin
@require_POST
def connect_start(request: HttpRequest) -> HttpResponse:
    cfg, username = _connectable()
    if cfg is None:
        return _back(
            request,
            False,
            "Connect account needs email.smtp.oauth with a provider, clientID and "
            "clientSecret (and no tenantID or serviceAccountKey)",
        )
    redirect_uri = siteconfig.get_settings().external_url + connect.CALLBACK_PATH
    url, pending = connect.start(cfg, redirect_uri, username or None)
    request.session[_PENDING] = pending.as_dict()
    return HttpResponseRedirect(url)


@site_admin
def connect_callback(request: HttpRequest) -> HttpResponse:
    pending: dict[str, Any] = request.session.pop(_PENDING, None) or {}
    if "error" in request.GET:  # the admin declined, or the provider refused (RFC 6749 4.1.2.1)
        error = request.GET.get("error", "")[:100]
        return _back(request, False, f"Not connected: the provider answered {error}")
    cfg, username = _connectable()
    if cfg is None:
        return _back(request, False, "Not connected: email.smtp.oauth changed meanwhile")
    try:
        account = connect.finish(
            cfg, username, pending, request.GET.get("code", ""), request.GET.get("state", "")
        )
    except MailError as err:
        return _back(request, False, f"Not connected: {err.reason}")
    return _back(request, True, f"Connected: sitemail now sends as {account} with OAuth 2.0.")


@site_admin
@require_POST
def ses_credentials(request: HttpRequest) -> HttpResponse:
    """Host, username and the derived SMTP password from an IAM access key; the IAM secret
    itself is never stored."""
    region = request.POST.get("region", "").strip()
    key_id = request.POST.get("access_key_id", "").strip()
    secret = request.POST.get("secret_access_key", "").strip()
    problems = [
        p
        for p in (
            ses.check_region(region) and f"region: {ses.check_region(region)}",
            ses.check_access_key_id(key_id) and f"access key ID: {ses.check_access_key_id(key_id)}",
            None if secret else "secret access key: paste the IAM user's secret access key",
        )
        if p
    ]
    if problems:
        return _back(request, False, "Amazon SES not saved: " + "; ".join(problems))
    values: dict[tuple[str, ...], Any] = {
        ("email.smtp", "host"): ses.smtp_host(region),
        ("email.smtp", "port"): 587,
        ("email.smtp", "tls"): "starttls",
        ("email.smtp", "authentication"): "PLAIN",
        ("email.smtp", "username"): key_id,
        ("email.smtp", "password"): ses.smtp_password(secret, region),
    }
    author = request.user if isinstance(request.user, User) else None
    try:
        siteconfig.patch(values, author, comment=None)
    except SiteConfigError as exc:
        return _back(request, False, "Amazon SES not saved: " + "; ".join(map(str, exc.problems)))
    return _back(
        request,
        True,
        f"Amazon SES: {ses.smtp_host(region)} with the SMTP password derived from the access key "
        f"{key_id} (the IAM secret was not stored). Send a test email to check it.",
    )
