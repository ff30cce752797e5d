"""Page views: thin over services."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sitemail.siteconfig import service as siteconfig


async def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def _home_context(user: Any) -> dict[str, Any]:
    from sitemail.accounts.models import User

    settings = siteconfig.get_settings()
    return {
        "email_enabled": settings.email.enabled,
        "user": user,
        # A new site: the first browser sign-up becomes its site admin.
        "first_run": not User.objects.exists(),
        "builtin": settings.auth.builtin_enabled,
    }


async def home(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    context = await sync_to_async(_home_context)(user)
    return await sync_to_async(render)(request, "web/home.html", context)
