"""Per-request GraphQL context: the request and its authenticated user."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from strawberry.types import Info as StrawberryInfo

from sitemail.accounts.models import User


class AuthError(Exception):
    """Raised by resolvers when the caller may not do this; shown as a GraphQL error."""


@dataclass
class Context:
    request: HttpRequest
    response: HttpResponse
    user: User | None

    def require_user(self) -> User:
        if self.user is None:
            raise AuthError("not authenticated: sign in or send 'Authorization: token <token>'")
        return self.user

    def require_site_admin(self) -> User:
        user = self.require_user()
        if not user.site_admin:
            raise AuthError("must be site admin")
        return user


Info = StrawberryInfo[Context, None]
