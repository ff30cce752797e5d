"""Page views: thin over services."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


async def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
