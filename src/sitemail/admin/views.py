"""Site-admin pages: parse the request, call a service, render. Site admins only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from asgiref.sync import sync_to_async
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.views.decorators.http import require_POST

from sitemail.accounts import mailbudget
from sitemail.accounts.models import User
from sitemail.admin import configedit, emaillog, metrics, presets, previews, status
from sitemail.admin import users as user_admin
from sitemail.deliverability.panel import panel as sender_auth_panel
from sitemail.outbox import log
from sitemail.outbox.metrics import ADMIN_RETRIES
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.test_email import TestEmailOutcome, send_test_email_traced
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.smtp.errors import Step
from sitemail.web.paging import page_of

View = Callable[..., HttpResponseBase]


def _refusal(request: HttpRequest, user: Any) -> HttpResponse | None:
    if not getattr(user, "is_authenticated", False):
        return HttpResponseRedirect(f"/sign-in?next={quote(request.get_full_path())}")
    if not getattr(user, "site_admin", False):
        return render(request, "siteadmin/forbidden.html", {"user": user}, status=403)
    return None


def site_admin(view: View) -> View:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return _refusal(request, request.user) or view(request, *args, **kwargs)

    return wrapper


def _page(request: HttpRequest, template: str, active: str, **context: Any) -> HttpResponse:
    context.update(banners=status.banners(), active=active, user=request.user)
    return render(request, template, context, status=context.pop("http_status", 200))


# --- configuration -------------------------------------------------------------------------


def _config_context(**extra: Any) -> dict[str, Any]:
    current = siteconfig.current()
    context: dict[str, Any] = {
        "config_id": current.id,
        "config_text": siteconfig.effective_contents(),
        "messages": siteconfig.validation_messages(),
        "read_only": siteconfig.read_only(),
        "form": presets.current_form(),
        "presets": presets.PRESETS,
        "presets_json": presets.presets_json(),
        "tls_modes": presets.TLS_MODES,
        "mechanisms": presets.MECHANISMS,
        # The DNS lookups run only when asked for (configuration() passes run_checks).
        "sender_auth": sender_auth_panel(siteconfig.get_settings(), run_checks=False),
    }
    context.update(extra)
    if context.get("smtp_problems"):
        # Each problem beside the control that caused it; the rest above the form.
        context["field_problems"], context["smtp_problems"] = presets.problems_by_field(
            list(context["smtp_problems"])
        )
        context["smtp_refused"] = True
    return context


@site_admin
def configuration(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        checks = request.GET.get("check") == "sender-auth"
        panel = sender_auth_panel(siteconfig.get_settings(), run_checks=True) if checks else None
        extra = {"sender_auth": panel} if panel else {}
        return _page(
            request, "siteadmin/configuration.html", "configuration", **_config_context(**extra)
        )
    author = request.user if isinstance(request.user, User) else None
    if request.POST.get("action") == "smtp":
        try:
            presets.save_form(request.POST, author)
        except SiteConfigError as exc:
            return _page(
                request,
                "siteadmin/configuration.html",
                "configuration",
                http_status=400,
                **_config_context(smtp_problems=exc.problems, smtp_posted=request.POST),
            )
        return HttpResponseRedirect("/site-admin/configuration?saved=smtp#smtp-saved")
    text = request.POST.get("contents", "")
    try:
        last_id = int(request.POST.get("last_id", ""))
    except ValueError:
        last_id = -1
    result = configedit.save(last_id, text, author)
    if result.ok:
        return HttpResponseRedirect("/site-admin/configuration?saved=config#config-saved")
    return _page(
        request,
        "siteadmin/configuration.html",
        "configuration",
        http_status=409 if result.stale else 400,
        # The admin's own text stays in the editor, with the id they edited.
        **_config_context(
            config_text=text, config_id=last_id, save=result, messages=configedit.check(text)
        ),
    )


@require_POST
@site_admin
def validate_config(request: HttpRequest) -> JsonResponse:
    """The editor's live check as the admin types: the same messages a save would give."""
    return JsonResponse({"messages": configedit.check(request.POST.get("contents", ""))})


def _transcript(outcome: TestEmailOutcome) -> list[dict[str, Any]]:
    """Steps for the page; the failing step gets the error's plain-language hint."""
    rows = []
    failed_step = outcome.error.step if outcome.error else None
    for event in outcome.steps:
        # On a failed step the reply and the hint already say what the "error" detail repeats.
        details = [(k, v) for k, v in event.details.items() if event.ok or k != "error"]
        rows.append(
            {
                "event": event,
                "details": sorted(details),
                "hint": (
                    outcome.error.hint
                    if outcome.error and not event.ok and event.step == failed_step
                    else None
                ),
            }
        )
    if outcome.error and outcome.error.hint and not any(r["hint"] for r in rows):
        rows.append({"event": None, "details": [], "hint": outcome.error.hint})
    return rows


async def test_email(request: HttpRequest) -> HttpResponseBase:
    user = await request.auser()
    refusal = await sync_to_async(_refusal)(request, user)
    if refusal is not None:
        return refusal
    if request.method != "POST":
        return HttpResponseRedirect("/site-admin/configuration#test-email")
    to = request.POST.get("to", "").strip()
    # The SMTP form's fields come along: what is in the form is tested, saved or not.
    posted = request.POST if "host" in request.POST else None
    try:
        candidate = await sync_to_async(presets.form_settings)(posted) if posted else None
    except SiteConfigError as exc:
        context = _config_context(smtp_problems=exc.problems, smtp_posted=posted, test_to=to)
        return await sync_to_async(_page)(
            request, "siteadmin/configuration.html", "configuration", http_status=400, **context
        )
    outcome = await send_test_email_traced(
        to, actor=user if isinstance(user, User) else None, candidate=candidate
    )

    def page() -> HttpResponse:
        context = _config_context(
            test=outcome,
            test_to=to,
            transcript=_transcript(outcome),
            failed_step=outcome.error.step.value if outcome.error else "",
            config_step=Step.CONFIG.value,
            smtp_posted=posted if outcome.unsaved else None,
        )
        return _page(request, "siteadmin/configuration.html", "configuration", **context)

    return await sync_to_async(page)()


# --- email log -----------------------------------------------------------------------------


@site_admin
def email_log(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "").strip() for k in ("status", "kind", "recipient")}
    after_text = request.GET.get("after", "")
    after = int(after_text) if after_text.isdigit() else None
    try:
        result = emaillog.page(first=50, after=after, **filters)
    except ValueError as exc:
        result = emaillog.Page([], None, False)
        filters["error"] = str(exc)
    query = {k: v for k, v in filters.items() if v and k != "error"}
    next_url = f"?{urlencode({**query, 'after': result.next_after})}" if result.next_after else ""
    return _page(
        request,
        "siteadmin/email_log.html",
        "email-log",
        page=result,
        filters=filters,
        statuses=Status.values,
        kinds=emaillog.kinds(),
        next_url=next_url,
        first_url=f"?{urlencode(query)}" if after else "",
        notice=request.GET.get("notice", ""),
        refusals=mailbudget.recent_refusals(),
    )


@site_admin
def email_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        detail = emaillog.detail(pk)
    except OutboxMessage.DoesNotExist as exc:
        raise Http404("no such message") from exc
    return _page(request, "siteadmin/email_detail.html", "email-log", d=detail)


@require_POST
@site_admin
def email_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    try:
        if action == "retry":
            log.retry(pk)
            ADMIN_RETRIES.inc()
            notice = f"Message {pk} is queued again; the worker will send it shortly."
        elif action == "cancel":
            log.cancel(pk)
            notice = f"Message {pk} was cancelled."
        else:
            raise Http404("no such action")
    except OutboxMessage.DoesNotExist as exc:
        raise Http404("no such message") from exc
    except log.LogError as exc:
        notice = str(exc)
    back = request.POST.get("next", "")
    if not back.startswith("/site-admin/"):
        back = f"/site-admin/email-log/{pk}"
    sep = "&" if "?" in back else "?"
    return HttpResponseRedirect(f"{back}{sep}{urlencode({'notice': notice})}")


# --- templates, users, metrics -------------------------------------------------------------


@site_admin
def email_templates(request: HttpRequest) -> HttpResponse:
    return _page(
        request, "siteadmin/email_templates.html", "email-templates", previews=previews.previews()
    )


@site_admin
def users(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    pager = page_of(user_admin.search(query), request)
    return _page(
        request,
        "siteadmin/users.html",
        "users",
        users=pager["rows"],
        pager=pager,
        q=query,
        notice=request.GET.get("notice", ""),
    )


@require_POST
@site_admin
def user_site_admin(request: HttpRequest, username: str) -> HttpResponse:
    assert isinstance(request.user, User)
    grant = request.POST.get("site_admin") == "true"
    try:
        user_admin.set_site_admin(request.user, username, grant)
        notice = f"{username} is {'now' if grant else 'no longer'} a site admin."
    except User.DoesNotExist as exc:
        raise Http404("no such user") from exc
    except user_admin.UserAdminError as exc:
        notice = str(exc)
    q = request.POST.get("q", "")
    return HttpResponseRedirect(f"/site-admin/users?{urlencode({'q': q, 'notice': notice})}")


@site_admin
def metrics_page(request: HttpRequest) -> HttpResponse:
    """The metrics in words for a person; /metrics stays the raw text for Prometheus."""
    return _page(request, "siteadmin/metrics.html", "metrics", families=metrics.readable())


def metrics_view(request: HttpRequest) -> HttpResponse:
    # A bearer token is answered by MetricsBearerMiddleware; here: a site admin's session or
    # access token.
    if not getattr(request.user, "site_admin", False):
        return HttpResponse(
            "metrics: sign in as a site admin or send 'Authorization: Bearer <token>' "
            f"(set {metrics.TOKEN_ENV})\n",
            status=401,
            content_type="text/plain",
        )
    return HttpResponse(metrics.exposition(), content_type="text/plain; version=0.0.4")
