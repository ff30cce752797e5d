"""Per-request GraphQL context: the request and its authenticated user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from sitemail.accounts.models import User

K = TypeVar("K")
V = TypeVar("V")


class AuthError(Exception):
    """Raised by resolvers when the caller may not do this; shown as a GraphQL error."""


@dataclass
class Context:
    request: HttpRequest
    response: HttpResponse
    user: User | None
    # Per-request DataLoaders by name: resolvers of one request batch their loads through them.
    loaders: dict[str, Any] = field(default_factory=dict)

    def loader(self, name: str, load: Callable[[list[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
        if name not in self.loaders:
            self.loaders[name] = DataLoader(load_fn=load)
        found: DataLoader[K, V] = self.loaders[name]
        return found

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
