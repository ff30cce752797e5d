"""/.auth/<type>/login and callback, SAML's /.auth/saml/acs: parse input, call flow and service."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sitemail.accounts.external import github, oidc, providers, service
from sitemail.accounts.external.providers import ExternalAuthError
from sitemail.accounts.models import User
from sitemail.siteconfig import service as siteconfig

BACKEND = "django.contrib.auth.backends.ModelBackend"
FLOWS: dict[str, ModuleType] = {providers.GITHUB: github, providers.OIDC: oidc}
SESSION_KEY = "external_auth_pending"
MAX_PENDING = 5  # sign-ins started in other tabs stay valid, a few at a time
EXPIRED = "This sign-in was not started here or has expired; start again from the sign-in page."


def _redirect_uri(kind: str) -> str:
    return siteconfig.get_settings().external_url.rstrip("/") + f"/.auth/{kind}/callback"


def _error(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "external/error.html", {"error": message}, status=401)


def auth_login(request: HttpRequest, kind: str) -> HttpResponse:
    flow = FLOWS.get(kind)
    if flow is None:
        return _error(request, f"Unknown authentication provider type {kind!r}.")
    next_url = request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    try:
        provider = providers.find(kind, request.GET.get("pc", ""))
        url, saved = flow.start(provider, _redirect_uri(kind))
    except ExternalAuthError as exc:
        return _error(request, str(exc))
    pending: dict[str, Any] = request.session.get(SESSION_KEY, {})
    pending = dict(list(pending.items())[-(MAX_PENDING - 1) :])
    pending[saved["state"]] = {**saved, "pc": provider.key, "next": next_url}
    request.session[SESSION_KEY] = pending
    return HttpResponseRedirect(url)


def auth_callback(request: HttpRequest, kind: str) -> HttpResponse:
    flow = FLOWS.get(kind)
    pending: dict[str, Any] = request.session.get(SESSION_KEY, {})
    # SECURITY: the state must be one this browser started (CSRF on the redirect, RFC 6749
    # 10.12); it is used once.
    saved = pending.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = pending
    if flow is None or saved is None:
        return _error(request, EXPIRED)
    current = request.user if isinstance(request.user, User) else None
    try:
        provider = providers.find(kind, saved["pc"])
        identity = flow.finish(provider, request.GET.dict(), saved, _redirect_uri(kind))
        user = service.sign_in(provider, identity, current)
    except ExternalAuthError as exc:
        return _error(request, str(exc))
    login(request, user, backend=BACKEND)
    return HttpResponseRedirect(saved["next"])


# ---------------------------------------------------------------- SAML


def saml_login(request: HttpRequest) -> HttpResponse:
    from sitemail.accounts.external import saml  # pysaml2 takes ~1 s to import

    next_url = request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    try:
        provider = providers.find(providers.SAML, request.GET.get("pc", ""))
        return HttpResponseRedirect(saml.start(provider, next_url))
    except ExternalAuthError as exc:
        return _error(request, str(exc))


# The IdP posts here cross-site: there is no CSRF token, and the signed RelayState plus the
# signed assertion answering our request id take its place.
@csrf_exempt
@require_POST
def saml_acs(request: HttpRequest) -> HttpResponse:
    from sitemail.accounts.external import saml  # pysaml2 takes ~1 s to import

    current = request.user if isinstance(request.user, User) else None
    try:
        relay = saml.relay_state(request.POST.get("RelayState", ""))
        provider = providers.find(providers.SAML, relay["pc"])
        identity = saml.finish(provider, request.POST.get("SAMLResponse", ""), relay["id"])
        user = service.sign_in(provider, identity, current)
    except ExternalAuthError as exc:
        return _error(request, str(exc))
    login(request, user, backend=BACKEND)
    return HttpResponseRedirect(relay["next"])


def saml_metadata(request: HttpRequest) -> HttpResponse:
    from sitemail.accounts.external import saml  # pysaml2 takes ~1 s to import

    try:
        provider = providers.find(providers.SAML, request.GET.get("pc", ""))
        xml = saml.metadata(provider)
    except ExternalAuthError as exc:
        return _error(request, str(exc))
    return HttpResponse(xml, content_type="application/samlmetadata+xml")
