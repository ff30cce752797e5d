"""Mail catcher pages: the inbox (search, live refresh), one message, raw source, delete."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote, urlencode

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from sitemail.catcher import access, service
from sitemail.catcher.models import CaughtMail

View = Callable[..., HttpResponseBase]
ROW = "web/_mailcatcher_row.html"


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the visitor may read caught mail, else the answer that says why not."""
    verdict = access.access(request.user)
    if verdict is access.Access.ALLOWED:
        return None
    if verdict is access.Access.OFF:
        raise Http404("the mail catcher is off: this server listens on a non-loopback address")
    if verdict is access.Access.SIGN_IN:
        return HttpResponseRedirect(f"/sign-in?next={quote(request.get_full_path())}")
    return render(request, "siteadmin/forbidden.html", {"user": request.user}, status=403)


def catcher_page(view: View) -> View:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return _refusal(request) or view(request, *args, **kwargs)

    return wrapper


def _message(pk: int) -> CaughtMail:
    row = CaughtMail.objects.filter(pk=pk).first()
    if row is None:
        raise Http404("no such message (deleted, or older than the newest kept)")
    return row


@catcher_page
def inbox(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    return render(
        request,
        "web/mailcatcher.html",
        {
            "messages": service.search(query),
            "q": query,
            "total": service.count(),
            "keep": service.KEEP,
            "notice": request.GET.get("notice", "")[:200],
        },
    )


@catcher_page
def messages_json(request: HttpRequest) -> JsonResponse:
    """The live refresh: messages newer than `after` (and matching `q`), newest first."""
    after = request.GET.get("after", "0")
    rows = service.search(
        request.GET.get("q", "").strip()[:200], int(after) if after.isdigit() else 0
    )
    # Each row as the page renders it (the Delete form with this session's CSRF token), so a
    # live row has the same controls as a loaded one.
    messages = [
        {**asdict(service.Summary.of(r)), "html": render_to_string(ROW, {"m": r}, request)}
        for r in rows
    ]
    return JsonResponse({"messages": messages, "total": service.count()})


@catcher_page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = _message(pk)
    parsed = message.parsed()
    context = {
        "message": message,
        "headers": [
            ("Envelope from", message.mail_from),
            ("Envelope to", ", ".join(message.rcpt_tos)),
        ]
        + [(k, str(v)) for k, v in parsed.items()],
        "text": service.linkify(message.part("plain")),
        "html": service.html_for_frame(message.part("html")),
        "has_html": bool(message.part("html")),
    }
    return render(request, "web/mailcatcher_detail.html", context)


@catcher_page
def raw(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(bytes(_message(pk).data), content_type="text/plain; charset=utf-8")


@require_POST
@catcher_page
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    service.delete(pk)
    return HttpResponseRedirect("/mailcatcher?" + urlencode({"notice": "Message deleted."}))


@require_POST
@catcher_page
def clear(request: HttpRequest) -> HttpResponse:
    removed = service.clear()
    notice = f"Deleted {removed} message{'s' if removed != 1 else ''}."
    return HttpResponseRedirect("/mailcatcher?" + urlencode({"notice": notice}))
