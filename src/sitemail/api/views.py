"""The GraphQL endpoint (token or session auth, CSRF for cookies) and the GraphiQL console."""

from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from strawberry.django.views import AsyncGraphQLView

from sitemail.accounts.models import User
from sitemail.api import limits
from sitemail.api.context import Context
from sitemail.api.schema import schema


def _no_response(request: HttpRequest) -> HttpResponse:  # CsrfViewMiddleware needs a callable
    raise AssertionError("unreachable")


class GraphQLView(AsyncGraphQLView):
    graphql_ide = None
    allow_queries_via_get = False

    def decode_json(self, data: str | bytes) -> object:
        return limits.decode_body(data)

    async def dispatch(  # type: ignore[override]
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        limit = limits.time_limit()
        try:
            return await asyncio.wait_for(self._dispatch(request, *args, **kwargs), limit)
        except TimeoutError:
            return HttpResponse(limits.timed_out(limit), content_type="application/json")

    async def _dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if getattr(request, "token_authenticated", False):
            request.sitemail_user = request.user  # type: ignore[attr-defined]
            return await super().dispatch(request, *args, **kwargs)
        user = await request.auser()
        request.sitemail_user = user if user.is_authenticated else None  # type: ignore[attr-defined]
        if user.is_authenticated:
            # Cookie-authenticated calls must carry the CSRF token (X-CSRFToken header);
            # anonymous calls have no ambient authority, so they need none.
            csrf = CsrfViewMiddleware(_no_response)
            refusal = csrf.process_view(request, None, (), {})  # type: ignore[arg-type]
            if refusal is not None:
                return refusal
        return await super().dispatch(request, *args, **kwargs)

    async def get_context(self, request: HttpRequest, response: HttpResponse) -> Context:  # type: ignore[override]
        user = getattr(request, "sitemail_user", None)
        return Context(
            request=request, response=response, user=user if isinstance(user, User) else None
        )


graphql = csrf_exempt(GraphQLView.as_view(schema=schema))


@ensure_csrf_cookie
def console(request: HttpRequest) -> HttpResponse:
    return render(request, "api/console.html", {})
