"""`Authorization: token <token>` authentication for API requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from sitemail.accounts import tokens
from sitemail.deliverability.config import WEBHOOK_PATH


class AccessTokenMiddleware:
    """Sets request.user from an access token; marks the request CSRF-exempt since no cookie."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        # Provider webhooks authenticate with the provider's own basic auth (deliverability).
        if header and not request.path.startswith(WEBHOOK_PATH):
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "token" or not value.strip():
                return HttpResponse(
                    "Invalid Authorization header: use 'Authorization: token <access token>'",
                    status=401,
                    content_type="text/plain",
                )
            user = await tokens.authenticate(value.strip())
            if user is None:
                return HttpResponse("Invalid access token.", status=401, content_type="text/plain")
            request.user = user
            # Token requests carry no ambient credentials, so CSRF does not apply.
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            request.token_authenticated = True  # type: ignore[attr-defined]
        return await self.get_response(request)
