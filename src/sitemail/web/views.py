"""Page views: thin over services."""

from __future__ import annotations

import os

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sitemail.catcher.models import CaughtMail
from sitemail.siteconfig import service as siteconfig


def _dev_mode() -> bool:
    return os.environ.get("SITEMAIL_DEV") == "1"


async def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


async def home(request: HttpRequest) -> HttpResponse:
    settings = await sync_to_async(siteconfig.get_settings)()
    user = await request.auser()
    return await sync_to_async(render)(
        request,
        "web/home.html",
        {"email_enabled": settings.email.enabled, "dev_mode": _dev_mode(), "user": user},
    )


async def _may_see_catcher(request: HttpRequest) -> bool:
    user = await request.auser()
    return _dev_mode() or bool(getattr(user, "site_admin", False))


async def mailcatcher(request: HttpRequest) -> HttpResponse:
    if not await _may_see_catcher(request):
        return HttpResponseRedirect("/sign-in?next=/mailcatcher")
    messages = await sync_to_async(lambda: list(CaughtMail.objects.defer("data")[:200]))()
    return await sync_to_async(render)(request, "web/mailcatcher.html", {"messages": messages})


async def mailcatcher_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not await _may_see_catcher(request):
        return HttpResponseRedirect(f"/sign-in?next=/mailcatcher/{pk}")
    message = await sync_to_async(CaughtMail.objects.filter(pk=pk).first)()
    if message is None:
        raise Http404("no such message")
    parsed = message.parsed()
    context = {
        "message": message,
        "headers": [
            ("Envelope from", message.mail_from),
            ("Envelope to", ", ".join(message.rcpt_tos)),
        ]
        + [(k, str(v)) for k, v in parsed.items()],
        "text": message.part("plain"),
        "html": message.part("html"),
    }
    return await sync_to_async(render)(request, "web/mailcatcher_detail.html", context)
