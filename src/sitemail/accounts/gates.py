"""The site-admin gate of pages: one decorator for every site-admin view (admin/, accounts/,
monitors/). Not signed in: to the sign-in page, back here after; signed in but not a site
admin: 403 with a page that says so."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import quote

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render

AsyncView = Callable[..., Awaitable[HttpResponseBase]]
F = TypeVar("F", bound=Callable[..., Any])


def refusal(request: HttpRequest, user: Any) -> HttpResponse | None:
    """The response for someone who may not see a site-admin page, or None for a site admin."""
    if not getattr(user, "is_authenticated", False):
        return HttpResponseRedirect(f"/sign-in?next={quote(request.get_full_path())}")
    if not getattr(user, "site_admin", False):
        return render(request, "siteadmin/forbidden.html", {"user": user}, status=403)
    return None


def site_admin_required(view: F) -> F:
    """Only site admins reach `view` (sync or async)."""
    if iscoroutinefunction(view):
        async_view = cast(AsyncView, view)

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            denied = await sync_to_async(refusal)(request, await request.auser())
            return denied or await async_view(request, *args, **kwargs)

        return cast(F, async_wrapper)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response: HttpResponseBase = refusal(request, request.user) or view(
            request, *args, **kwargs
        )
        return response

    return cast(F, wrapper)
