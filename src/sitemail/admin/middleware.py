"""Answers `GET /metrics` with `Authorization: Bearer <SITEMAIL_METRICS_TOKEN>` (Prometheus).

It runs before the access-token middleware, which accepts only `Authorization: token ...`;
other requests pass through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse

from sitemail.admin import metrics


class MetricsBearerMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if request.path == "/metrics" and header.lower().startswith("bearer "):
            if not metrics.token_allows(header):
                return HttpResponse(
                    f"metrics: wrong bearer token (see {metrics.TOKEN_ENV})\n",
                    status=401,
                    content_type="text/plain",
                )
            body = await sync_to_async(metrics.exposition)()
            return HttpResponse(body, content_type="text/plain; version=0.0.4")
        return await self.get_response(request)
