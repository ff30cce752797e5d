"""Page views: thin over services."""

from __future__ import annotations

from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sitemail.catcher import access
from sitemail.catcher.models import CaughtMail
from sitemail.siteconfig import service as siteconfig


async def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


async def home(request: HttpRequest) -> HttpResponse:
    settings = await sync_to_async(siteconfig.get_settings)()
    user = await request.auser()
    return await sync_to_async(render)(
        request,
        "web/home.html",
        {"email_enabled": settings.email.enabled, "user": user},
    )


async def _catcher_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the visitor may read caught mail, else the page that says why not."""
    user = await request.auser()
    verdict = await sync_to_async(access.access)(user)
    if verdict is access.Access.ALLOWED:
        return None
    if verdict is access.Access.OFF:
        raise Http404("the mail catcher is off: this server listens on a non-loopback address")
    if verdict is access.Access.SIGN_IN:
        return HttpResponseRedirect(f"/sign-in?next={quote(request.get_full_path())}")
    return await sync_to_async(render)(
        request, "siteadmin/forbidden.html", {"user": user}, status=403
    )


async def mailcatcher(request: HttpRequest) -> HttpResponse:
    if refusal := await _catcher_refusal(request):
        return refusal
    messages = await sync_to_async(lambda: list(CaughtMail.objects.defer("data")[:200]))()
    return await sync_to_async(render)(request, "web/mailcatcher.html", {"messages": messages})


async def mailcatcher_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if refusal := await _catcher_refusal(request):
        return refusal
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
