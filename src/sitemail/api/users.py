"""GraphQL: users and their emails (`currentUser`, `user(username:)`), opaque relay ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from asgiref.sync import sync_to_async
from strawberry.relay import from_base64, to_base64

from sitemail.accounts import emails as email_service
from sitemail.accounts.models import User as UserModel
from sitemail.accounts.models import UserEmail as UserEmailModel
from sitemail.accounts.users import UserError
from sitemail.api.context import Info

if TYPE_CHECKING:
    from sitemail.api.monitors import MonitorConnection


def node_id(kind: str, pk: int) -> strawberry.ID:
    return strawberry.ID(to_base64(kind, pk))


def decode_id(kind: str, value: str) -> int:
    """The primary key in a relay id of `kind`; UserError for anything else."""
    try:
        got, pk = from_base64(value)
        if got != kind:
            raise ValueError(got)
        return int(pk)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(f"invalid {kind} ID {value!r}") from exc


@strawberry.type
class UserEmail:
    email: str
    verified: bool
    is_primary: bool
    verification_pending: bool

    @classmethod
    def of(cls, row: UserEmailModel) -> UserEmail:
        return cls(
            email=row.email,
            verified=row.verified,
            is_primary=row.is_primary,
            verification_pending=not row.verified and row.last_verification_sent_at is not None,
        )


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    display_name: str
    site_admin: bool
    model: strawberry.Private[UserModel]

    @classmethod
    def of(cls, user: UserModel) -> User:
        return cls(
            id=node_id("User", user.pk),
            username=user.username,
            display_name=user.display_name,
            site_admin=user.site_admin,
            model=user,
        )

    @strawberry.field(description="The user's emails (the user or a site admin).")
    async def emails(self, info: Info) -> list[UserEmail]:
        rows = await sync_to_async(email_service.list_for)(info.context.user, self.model)
        return [UserEmail.of(r) for r in rows]

    @strawberry.field(description="The verified primary email, if any.")
    async def primary_email(self, info: Info) -> UserEmail | None:
        rows = await sync_to_async(email_service.list_for)(info.context.user, self.model)
        return next((UserEmail.of(r) for r in rows if r.is_primary and r.verified), None)

    @strawberry.field(description="The user's code monitors (the user or a site admin).")
    async def monitors(
        self, info: Info, first: int = 50
    ) -> Annotated[MonitorConnection, strawberry.lazy("sitemail.api.monitors")]:
        from sitemail.api.monitors import user_monitors

        return await user_monitors(info, self.model, first)


def _by_username(username: str) -> UserModel | None:
    return UserModel.objects.filter(username__iexact=username).first()


@strawberry.type
class UserQuery:
    @strawberry.field
    def current_user(self, info: Info) -> User | None:
        user = info.context.user
        return User.of(user) if user is not None else None

    @strawberry.field(description="A user by username (signed-in callers), or null.")
    async def user(self, info: Info, username: str) -> User | None:
        info.context.require_user()
        found = await sync_to_async(_by_username)(username[:255])
        return User.of(found) if found is not None else None
