"""Account pages and JSON endpoints: parse input, call the accounts services, shape output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sitemail.accounts import auth, emails, passwords, tokens
from sitemail.accounts.external import providers as external_providers
from sitemail.accounts.gates import site_admin_required
from sitemail.accounts.models import User
from sitemail.accounts.provisioning import admin_create_user
from sitemail.accounts.users import UserError, get_by_username
from sitemail.deliverability import views as deliverability_views
from sitemail.siteconfig import service as siteconfig

BACKEND = "django.contrib.auth.backends.ModelBackend"
View = Callable[..., HttpResponse]


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _body(request: HttpRequest) -> dict[str, str]:
    """A JSON object body (or a form); every value as a string, at most 4 KiB each."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise UserError("request body: not valid JSON") from exc
        if not isinstance(data, dict):
            raise UserError("request body: expected a JSON object")
    else:
        data = request.POST.dict()
    return {str(k): str(v)[:4096] for k, v in data.items() if v is not None}


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return "/"
    return target


def _page(
    request: HttpRequest, name: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(request, f"accounts/{name}.html", context, status=status)


# ---------------------------------------------------------------- JSON endpoints


def _json_endpoint(view: View) -> View:
    """POST with `Content-Type: application/json` only, and then no CSRF token needed.

    SECURITY: a cross-site page can only send a JSON content type after a CORS preflight,
    which this site never grants, so requiring it stops CSRF (and login CSRF) for these
    endpoints while API clients such as curl need no cookie dance.
    """

    def wrapped(request: HttpRequest) -> HttpResponse:
        if request.content_type != "application/json":
            return _text("Send a JSON body with Content-Type: application/json.", 415)
        return view(request)

    wrapped.__name__ = view.__name__
    return csrf_exempt(require_POST(wrapped))


@_json_endpoint
def api_sign_up(request: HttpRequest) -> HttpResponse:
    try:
        data = _body(request)
        user = auth.sign_up(
            data.get("username", ""), data.get("email", ""), data.get("password", "")
        )
    except UserError as exc:
        return _text(str(exc), 400)
    login(request, user, backend=BACKEND)
    return JsonResponse({"username": user.username, "siteAdmin": user.site_admin})


@_json_endpoint
def api_sign_in(request: HttpRequest) -> HttpResponse:
    try:
        data = _body(request)
        login_name = data.get("username") or data.get("email", "")
        user = auth.sign_in(login_name, data.get("password", ""))
    except UserError as exc:
        return _text(str(exc), 401)
    login(request, user, backend=BACKEND)
    return JsonResponse({"username": user.username})


@_json_endpoint
def api_sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return JsonResponse({})


@_json_endpoint
def api_reset_password_init(request: HttpRequest) -> HttpResponse:
    try:
        passwords.request_reset(_body(request).get("email", ""))
    except passwords.RateLimited as exc:
        return _text(str(exc), 429)
    except UserError as exc:
        return _text(str(exc), 400)
    return JsonResponse({})


@_json_endpoint
def api_reset_password_code(request: HttpRequest) -> HttpResponse:
    if _user(request) is not None:
        return _text("Signed-in users cannot use password reset links; sign out first.", 403)
    try:
        data = _body(request)
        passwords.reset_with_code(
            data.get("userID", ""), data.get("code", ""), data.get("password", "")
        )
    except UserError as exc:
        return _text(str(exc), 401 if str(exc) == passwords.INVALID_CODE else 400)
    return JsonResponse({})


# ---------------------------------------------------------------- sign up, in, out


def sign_up(request: HttpRequest) -> HttpResponse:
    # ?email= pre-fills the address (an invitation's); ?next= returns there afterwards.
    context: dict[str, Any] = {
        "username": "",
        "email": request.GET.get("email", "")[:320],
        "error": "",
        "next": _next(request),
        "first_run": not User.objects.exists(),
        "closed": auth.SIGNUP_CLOSED if not auth.signup_open() else "",
    }
    if request.method == "POST":
        data = _body(request)
        context.update(username=data.get("username", ""), email=data.get("email", ""))
        try:
            user = auth.sign_up(context["username"], context["email"], data.get("password", ""))
        except UserError as exc:
            context["error"] = str(exc)
            return _page(request, "sign_up", context, status=400)
        login(request, user, backend=BACKEND)
        if user.site_admin:  # the first account: lead on to configuring email
            return HttpResponseRedirect("/?welcome=admin")
        if context["next"] != "/":
            return HttpResponseRedirect(context["next"])
        verified = user.emails.filter(verified_at__isnull=False).exists()
        return HttpResponseRedirect(
            "/user/settings/emails" + ("" if verified else "?welcome=verify")
        )
    return _page(request, "sign_up", context)


def sign_in(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "next": _next(request),
        "username": "",
        "error": "",
        "allow_signup": siteconfig.get_settings().auth.allow_signup,
        "builtin_enabled": siteconfig.get_settings().auth.builtin_enabled,
    }
    context["external_providers"] = external_providers.sign_in_buttons(context["next"])
    if request.method == "POST":
        context["username"] = request.POST.get("username", "")[:320]
        try:
            user = auth.sign_in(context["username"], request.POST.get("password", "")[:4096])
        except UserError as exc:
            context["error"] = str(exc)
            return _page(request, "sign_in", context, status=401)
        login(request, user, backend=BACKEND)
        return HttpResponseRedirect(context["next"])
    return _page(request, "sign_in", context)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect("/")


# ---------------------------------------------------------------- passwords and links


def password_reset(request: HttpRequest) -> HttpResponse:
    """Without a code: the forgot-password form. With userID and code: choose a new password."""
    user_id = request.POST.get("userID") or request.GET.get("userID") or ""
    code = request.POST.get("code") or request.GET.get("code") or ""
    context: dict[str, Any] = {"user_id": user_id, "code": code, "error": "", "done": False}
    if not code:
        status = 200
        if request.method == "POST":
            context["email"] = request.POST.get("email", "")[:320]
            try:
                passwords.request_reset(context["email"])
                context["done"] = True
            except passwords.RateLimited as exc:
                context["error"], status = str(exc), 429
            except UserError as exc:
                context["error"], status = str(exc), 400
        return _page(request, "forgot_password", context, status=status)
    if _user(request) is not None:
        context["error"] = "You are signed in: sign out to use a password reset link."
        return _page(request, "reset_password", context, status=403)
    if request.method == "POST":
        try:
            passwords.reset_with_code(user_id, code, request.POST.get("password", "")[:4096])
            context["done"] = True
        except UserError as exc:
            context["error"] = str(exc)
            return _page(request, "reset_password", context, status=400)
    else:
        try:
            passwords.check_code(user_id, code)
        except UserError as exc:
            context["error"] = str(exc)
            context["invalid"] = True
            return _page(request, "reset_password", context, status=400)
    context["min_length"] = siteconfig.get_settings().auth.min_password_length
    return _page(request, "reset_password", context)


def verify_email(request: HttpRequest) -> HttpResponse:
    try:
        row = emails.verify_with_code(
            request.GET.get("email", ""), request.GET.get("code", "")[:512]
        )
    except UserError as exc:
        address = request.GET.get("email", "")[:320]
        if emails.verified_by(_user(request), address):  # only the owner learns this
            message = f"Your email address {address} is already verified; nothing more to do."
            return _page(request, "link_result", {"title": "Email verified", "message": message})
        error = (
            f"{exc} If you followed this link before, the address is verified already: "
            "sign in and open Settings → Emails to check."
        )
        return _page(request, "link_result", {"title": "Email not verified", "error": error}, 400)
    message = f"Your email address {row.email} is now verified."
    return _page(request, "link_result", {"title": "Email verified", "message": message})


def unlock_account(request: HttpRequest) -> HttpResponse:
    try:
        user = auth.unlock(request.GET.get("token", ""))
    except UserError as exc:
        return _page(
            request, "link_result", {"title": "Account not unlocked", "error": str(exc)}, 400
        )
    message = f"The account {user.username} is unlocked. You can sign in again."
    return _page(request, "link_result", {"title": "Account unlocked", "message": message})


# ---------------------------------------------------------------- user settings


def _signed_in(view: View) -> View:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _user(request) is None:
            return HttpResponseRedirect(f"/sign-in?next={request.path}")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


USER_ACTIONS = [
    ("primary", "Make primary"),
    ("resend", "Send verification email"),
    ("remove", "Remove"),
]
ADMIN_ACTIONS = [("verify", "Mark verified"), ("unverify", "Mark unverified")]


def _email_action(actor: User, user: User, action: str, email: str) -> str:
    if action == "add":
        emails.add(actor, user, email)
        return f"Added {email}. A verification email is on its way if email is configured."
    if action == "primary":
        emails.set_primary(actor, user, email)
        return f"{email} is now the primary email address."
    if action == "resend":
        emails.resend(actor, user, email)
        return f"Sent a verification email to {email}."
    if action == "remove":
        emails.remove(actor, user, email)
        return f"Removed {email}."
    if action in ("verify", "unverify"):
        emails.set_verified(actor, user, email, action == "verify")
        return f"Marked {email} {'verified' if action == 'verify' else 'unverified'}."
    raise UserError(f"unknown action {action!r}")


def _emails_page(request: HttpRequest, actor: User, user: User, template: str) -> HttpResponse:
    context: dict[str, Any] = {
        "subject": user,
        "error": "",
        "message": "",
        "active": "users",
        "user_actions": USER_ACTIONS,
        "admin_actions": USER_ACTIONS + ADMIN_ACTIONS,
    }
    status = 200
    if request.method == "POST":
        try:
            context["message"] = _email_action(
                actor, user, request.POST.get("action", ""), request.POST.get("email", "")[:400]
            )
        except emails.TooRecent as exc:
            context["error"], status = exc.advice(), 400
        except UserError as exc:
            context["error"], status = str(exc), 400
    context["emails"] = emails.list_for(actor, user)
    context.update(deliverability_views.settings_context([e.email for e in context["emails"]]))
    return _page(request, template, context, status)


@_signed_in
def settings_emails(request: HttpRequest) -> HttpResponse:
    actor = _user(request)
    assert actor is not None
    return _emails_page(request, actor, actor, "settings_emails")


@_signed_in
def settings_tokens(request: HttpRequest) -> HttpResponse:
    actor = _user(request)
    assert actor is not None
    context: dict[str, Any] = {"error": "", "new_token": "", "message": ""}
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "delete":
                tokens.delete(actor, tokens.get(request.POST.get("id", "")))
                context["message"] = "Deleted the access token."
            else:
                note = request.POST.get("note", "")
                scopes = [tokens.SCOPE_USER_ALL]
                if request.POST.get("sudo") and actor.site_admin:
                    scopes.append(tokens.SCOPE_SUDO)
                _, context["new_token"] = tokens.issue(actor, actor, scopes, note)
        except UserError as exc:
            context["error"], status = str(exc), 400
    context["tokens"] = tokens.list_for(actor, actor)
    return _page(request, "settings_tokens", context, status)


# ---------------------------------------------------------------- site admin


@site_admin_required
def admin_new_user(request: HttpRequest) -> HttpResponse:
    """Like builtin sign-up: an unverified email and a set-password email that verifies it."""
    context: dict[str, Any] = {"username": "", "email": "", "error": "", "active": "users"}
    status = 200
    if request.method == "POST":
        context.update(
            username=request.POST.get("username", "")[:300],
            email=request.POST.get("email", "")[:400],
        )
        try:
            user, url = admin_create_user(
                _user(request), context["username"], context["email"], verified_email=False
            )
            context.update(created=user, reset_url=url)
        except UserError as exc:
            context["error"], status = str(exc), 400
    context["email_enabled"] = siteconfig.get_settings().email.enabled
    return _page(request, "admin_new_user", context, status)


@site_admin_required
def admin_user_emails(request: HttpRequest, username: str) -> HttpResponse:
    actor = _user(request)
    assert actor is not None
    try:
        user = get_by_username(username)
    except UserError as exc:
        return _text(str(exc), 404)
    return _emails_page(request, actor, user, "admin_user_emails")
