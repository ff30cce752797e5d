"""Pages: code monitors (list, create/edit with preview, logs), search, site-admin repositories."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sitemail.accounts.models import User
from sitemail.monitors import repos, service
from sitemail.monitors.models import Action, CodeMonitor, Repository
from sitemail.monitors.query import QueryError
from sitemail.monitors.search import SearchTimeout
from sitemail.web.paging import page_of

DEFAULT_QUERY = "type:diff repo:. TODO"


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _sign_in(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(f"/sign-in?next={quote(request.get_full_path())}")


def _form_from_monitor(monitor: CodeMonitor) -> dict[str, Any]:
    form: dict[str, Any] = {
        "description": monitor.description,
        "query": monitor.query,
        "enabled": monitor.enabled,
        "email_enabled": False,
        "priority": "NORMAL",
        "include_results": False,
        "header": "",
        "webhook_url": "",
        "slack_url": "",
    }
    for action in monitor.actions.all():
        if action.type == Action.Type.EMAIL:
            form.update(
                email_enabled=action.enabled,
                priority=action.priority,
                include_results=action.include_results,
                header=action.header,
            )
        elif action.type == Action.Type.WEBHOOK:
            form["webhook_url"] = action.url
        else:
            form["slack_url"] = action.url
    return form


def _form_from_post(request: HttpRequest) -> dict[str, Any]:
    p = request.POST
    return {
        "description": p.get("description", "").strip(),
        "query": p.get("query", "").strip(),
        "enabled": p.get("enabled") == "on",
        "email_enabled": p.get("email_enabled") == "on",
        "priority": p.get("priority", "NORMAL"),
        "include_results": p.get("include_results") == "on",
        "header": p.get("header", ""),
        "webhook_url": p.get("webhook_url", "").strip(),
        "slack_url": p.get("slack_url", "").strip(),
    }


def _spec(form: dict[str, Any], owner: User, monitor: CodeMonitor | None) -> service.MonitorSpec:
    """The page edits one email action (to the owner) and optional webhooks: keep their ids."""
    existing: dict[str, int] = {}
    if monitor is not None:
        existing = {a.type: a.pk for a in monitor.actions.all()}
    actions = [
        service.ActionSpec(
            type=Action.Type.EMAIL,
            enabled=form["email_enabled"],
            priority=form["priority"],
            include_results=form["include_results"],
            header=form["header"],
            recipients=[owner.pk],
            id=existing.get(Action.Type.EMAIL),
        )
    ]
    for kind, key in ((Action.Type.WEBHOOK, "webhook_url"), (Action.Type.SLACK, "slack_url")):
        if form[key]:
            actions.append(
                service.ActionSpec(
                    type=kind,
                    url=form[key],
                    include_results=form["include_results"],
                    id=existing.get(kind),
                )
            )
    return service.MonitorSpec(
        description=form["description"],
        query=form["query"],
        enabled=form["enabled"],
        actions=actions,
    )


def _edit(request: HttpRequest, user: User, monitor: CodeMonitor | None) -> HttpResponse:
    context: dict[str, Any] = {"monitor": monitor, "error": "", "preview": None}
    if request.method == "POST":
        form = _form_from_post(request)
        context["form"] = form
        try:
            if "preview" in request.POST:
                context["preview"] = [r.to_json() for r in service.preview(form["query"])]
            else:
                spec = _spec(form, monitor.owner if monitor else user, monitor)
                if monitor is None:
                    monitor = service.create(user, user.pk, spec)
                else:
                    monitor = service.update(user, monitor.pk, spec)
                return HttpResponseRedirect(f"/code-monitoring/{monitor.pk}")
        except (QueryError, service.MonitorError, SearchTimeout) as exc:
            context["error"] = str(exc)
    else:
        context["form"] = (
            _form_from_monitor(monitor)
            if monitor is not None
            else {
                "description": "",
                "query": request.GET.get("q", DEFAULT_QUERY),
                "enabled": True,
                "email_enabled": True,
                "priority": "NORMAL",
                "include_results": True,
                "header": "",
                "webhook_url": "",
                "slack_url": "",
            }
        )
    status = 400 if context["error"] else 200
    return render(request, "monitors/edit.html", context, status=status)


def monitor_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user is None:
        return _sign_in(request)
    pager = page_of(service.list_for(user), request)
    pager["rows"] = [(m, m.trigger_runs.first()) for m in pager["rows"]]
    return render(request, "monitors/list.html", {"rows": pager["rows"], "pager": pager})


def monitor_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user is None:
        return _sign_in(request)
    return _edit(request, user, None)


def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if user is None:
        return _sign_in(request)
    try:
        monitor = service.get_for(user, pk)
    except service.MonitorError:
        return render(request, "monitors/missing.html", {}, status=404)
    if request.method == "POST" and request.POST.get("op") == "delete":
        service.delete(user, pk)
        return HttpResponseRedirect("/code-monitoring")
    if request.method == "POST" and request.POST.get("op") == "toggle":
        service.toggle(user, pk, not monitor.enabled)
        return HttpResponseRedirect(f"/code-monitoring/{pk}")
    return _edit(request, user, monitor)


def monitor_logs(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if user is None:
        return _sign_in(request)
    try:
        monitor = service.get_for(user, pk)
    except service.MonitorError:
        return render(request, "monitors/missing.html", {}, status=404)
    runs = list(monitor.trigger_runs.prefetch_related("action_runs__action")[:50])
    return render(request, "monitors/logs.html", {"monitor": monitor, "runs": runs})


# Searches run in a small pool of their own, never on the event loop or in the one thread that
# Django's other sync views share. Small, because every busy Python thread takes turns at the
# GIL with the event loop: ten searching threads made /healthz wait a second.
_SEARCHES = ThreadPoolExecutor(2, thread_name_prefix="search")


async def search_page(request: HttpRequest) -> HttpResponse:
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_SEARCHES, context.run, _search_page, request)


def _search_page(request: HttpRequest) -> HttpResponse:
    try:
        user = _user(request)
        if user is None:
            return _sign_in(request)
        query = request.GET.get("q", "")
        context: dict[str, Any] = {"query": query, "results": None, "error": ""}
        status = 200
        if query:
            try:
                context["results"] = [r.to_json() for r in service.preview(query)]
            except QueryError as exc:
                context["error"], status = str(exc), 400
            except SearchTimeout as exc:
                context["error"], status = str(exc), 503
        return render(request, "monitors/search.html", context, status=status)
    finally:
        connection.close()  # this pool thread's own connection


def repositories(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user is None:
        return _sign_in(request)
    if not user.site_admin:
        return render(request, "siteadmin/forbidden.html", {"user": user}, status=403)
    context: dict[str, Any] = {"error": "", "added": None, "url": "", "active": "repositories"}
    if request.method == "POST":
        context["url"] = request.POST.get("url", "")
        try:
            context["added"] = repos.add(context["url"], request.POST.get("name") or None)
            context["url"] = ""
        except repos.RepoError as exc:
            context["error"] = str(exc)
    context["pager"] = page_of(Repository.objects.order_by("name"), request)
    status = 400 if context["error"] else 200
    return render(request, "monitors/repositories.html", context, status=status)
