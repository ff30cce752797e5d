"""GraphQL: the current user (enough for clients to check who they are)."""

from __future__ import annotations

import strawberry

from sitemail.accounts.models import User as UserModel
from sitemail.api.context import Info


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    display_name: str
    site_admin: bool

    @classmethod
    def of(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(str(user.pk)),
            username=user.username,
            display_name=user.display_name,
            site_admin=user.site_admin,
        )


@strawberry.type
class UserQuery:
    @strawberry.field
    def current_user(self, info: Info) -> User | None:
        user = info.context.user
        return User.of(user) if user is not None else None
