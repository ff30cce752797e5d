"""GraphQL: users, their emails and access tokens; `currentUser`, `user`, `users`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from sitemail.accounts import directory, tokens
from sitemail.accounts import emails as email_service
from sitemail.accounts.models import AccessToken as AccessTokenModel
from sitemail.accounts.models import User as UserModel
from sitemail.accounts.models import UserEmail as UserEmailModel
from sitemail.accounts.users import require_self_or_admin
from sitemail.api.common import Node, PageInfo, connection, prefetched, run, run_unless
from sitemail.api.common import decode_id as decode_id  # re-exported: older imports
from sitemail.api.common import node_id as node_id
from sitemail.api.context import Info
from sitemail.paging import Page

if TYPE_CHECKING:
    from sitemail.api.monitors import MonitorConnection
    from sitemail.api.orgs import OrgConnection

OrgConnectionRef = Annotated["OrgConnection", strawberry.lazy("sitemail.api.orgs")]
MonitorConnectionRef = Annotated["MonitorConnection", strawberry.lazy("sitemail.api.monitors")]


@strawberry.interface(description="A user or an organization: something that owns monitors.")
class Namespace:
    id: strawberry.ID
    namespace_name: str
    url: str


@strawberry.type
class UserEmail:
    email: str
    verified: bool
    is_primary: bool
    verification_pending: bool
    viewer_can_manually_verify: bool
    owner: strawberry.Private[UserModel]

    @classmethod
    def of(cls, row: UserEmailModel, owner: UserModel, viewer: UserModel | None) -> UserEmail:
        return cls(
            email=row.email,
            verified=row.verified,
            is_primary=row.is_primary,
            verification_pending=not row.verified and row.last_verification_sent_at is not None,
            # The same rule as setUserEmailVerified: site admins only.
            viewer_can_manually_verify=viewer is not None and viewer.site_admin,
            owner=owner,
        )

    @strawberry.field(description="The user this email belongs to.")
    def user(self) -> User:
        return User.of(self.owner)


def user_url(username: str) -> str:
    return f"/users/{username}"


@strawberry.type
class User(Node, Namespace):
    id: strawberry.ID
    username: str
    display_name: str
    site_admin: bool
    created_at: datetime
    avatar_url: str | None = strawberry.field(name="avatarURL")
    url: str
    settings_url: str = strawberry.field(name="settingsURL")
    namespace_name: str
    model: strawberry.Private[UserModel]

    @classmethod
    def of(cls, user: UserModel) -> User:
        return cls(
            id=node_id("User", user.pk),
            username=user.username,
            display_name=user.display_name,
            site_admin=user.site_admin,
            created_at=user.created_at,
            avatar_url=None,
            url=user_url(user.username),
            settings_url=f"{user_url(user.username)}/settings",
            namespace_name=user.username,
            model=user,
        )

    @strawberry.field(description="Tags (feature flags); sitemail sets none.")
    def tags(self) -> list[str]:
        return []

    @strawberry.field(description="Whether the viewer may edit this user (the user, site admins).")
    def viewer_can_administer(self, info: Info) -> bool:
        viewer = info.context.user
        return viewer is not None and (viewer.pk == self.model.pk or viewer.site_admin)

    @strawberry.field(description="The user's emails (the user or a site admin; else an error).")
    async def emails(self, info: Info) -> list[UserEmail]:
        viewer = info.context.user
        loaded = prefetched(self.model, "emails")
        rows = await run_unless(loaded, lambda: email_service.list_for(viewer, self.model))
        return [UserEmail.of(r, self.model, viewer) for r in rows]

    @strawberry.field(description="The verified primary email, if any.")
    async def primary_email(self, info: Info) -> UserEmail | None:
        viewer = info.context.user
        loaded = prefetched(self.model, "emails")
        rows = await run_unless(loaded, lambda: email_service.list_for(viewer, self.model))
        return next(
            (UserEmail.of(r, self.model, viewer) for r in rows if r.is_primary and r.verified),
            None,
        )

    @strawberry.field(description="The organizations the user is a member of.")
    async def organizations(self, info: Info) -> OrgConnectionRef:
        from sitemail.api.orgs import orgs_of

        return await orgs_of(self.model)

    @strawberry.field(description="The user's access tokens (the user or a site admin).")
    async def access_tokens(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AccessTokenConnection:
        viewer = info.context.user
        page = await run(lambda: tokens.page_for(viewer, self.model, first, after))
        return AccessTokenConnection.of(page)

    @strawberry.field(description="The user's code monitors (the user or a site admin).")
    async def monitors(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> MonitorConnectionRef:
        from sitemail.api.monitors import user_monitors

        return await user_monitors(info, self.model, first, after)


@strawberry.type
class AccessToken(Node):
    id: strawberry.ID
    scopes: list[str]
    note: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    subject: User
    creator: User

    @classmethod
    def of(cls, row: AccessTokenModel) -> AccessToken:
        return cls(
            id=node_id("AccessToken", row.pk),
            scopes=list(row.scopes),
            note=row.note,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            subject=User.of(row.user),
            creator=User.of(row.creator or row.user),
        )


@strawberry.type
class AccessTokenConnection:
    nodes: list[AccessToken]
    total_count: int
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[AccessTokenModel]) -> AccessTokenConnection:
        return connection(cls, page, AccessToken.of)


@strawberry.type
class UserConnection:
    nodes: list[User]
    total_count: int
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[UserModel]) -> UserConnection:
        return connection(cls, page, User.of)


@strawberry.type(description="A user as the site-admin users list shows it.")
class SiteUser:
    id: strawberry.ID
    username: str
    display_name: str | None
    email: str | None
    site_admin: bool
    created_at: datetime
    last_active_at: datetime | None
    deleted_at: datetime | None
    locked: bool
    events_count: float

    @classmethod
    def of(cls, user: UserModel) -> SiteUser:
        primary = next((e.email for e in user.emails.all() if e.is_primary), None)
        return cls(
            id=node_id("User", user.pk),
            username=user.username,
            display_name=user.display_name or None,
            email=primary,
            site_admin=user.site_admin,
            created_at=user.created_at,
            last_active_at=user.last_login,
            deleted_at=user.deleted_at,
            locked=user.locked_until is not None,
            events_count=0.0,  # sitemail keeps no event log
        )


@strawberry.enum
class SiteUserOrderBy(Enum):
    USERNAME = "USERNAME"
    EMAIL = "EMAIL"
    EVENTS_COUNT = "EVENTS_COUNT"
    LAST_ACTIVE_AT = "LAST_ACTIVE_AT"
    CREATED_AT = "CREATED_AT"
    DELETED_AT = "DELETED_AT"
    SITE_ADMIN = "SITE_ADMIN"


@strawberry.input(description="Within [gte, lte]; empty: the date is unset; not: negate.")
class SiteUsersDateRangeInput:
    lte: datetime | None = None
    gte: datetime | None = None
    not_: bool | None = strawberry.field(name="not", default=None)
    empty: bool | None = None

    def range(self) -> directory.DateRange:
        return directory.DateRange(
            gte=self.gte, lte=self.lte, empty=self.empty, negate=bool(self.not_)
        )


@strawberry.input(description="Within [gte, lte].")
class SiteUsersNumberRangeInput:
    gte: float | None = None
    lte: float | None = None


@strawberry.type(description="site.users: all users, soft-deleted ones included (site admins).")
class SiteUsers:
    where: strawberry.Private[directory.SiteFilter]

    @strawberry.field
    async def total_count(self, info: Info) -> float:
        viewer = info.context.user
        return await run(lambda: directory.count(viewer, self.where))

    @strawberry.field
    async def nodes(
        self,
        info: Info,
        limit: int | None = None,
        offset: int | None = None,
        order_by: SiteUserOrderBy | None = None,
        descending: bool | None = None,
    ) -> list[SiteUser]:
        viewer = info.context.user
        column = order_by.value if order_by is not None else None
        rows = await run(
            lambda: directory.window(viewer, self.where, limit, offset, column, bool(descending))
        )
        return [SiteUser.of(u) for u in rows]


def _zero_in(r: SiteUsersNumberRangeInput | None) -> bool:
    return r is None or ((r.gte is None or r.gte <= 0) and (r.lte is None or r.lte >= 0))


def site_users(
    query: str | None = None,
    site_admin: bool | None = None,
    username: str | None = None,
    email: str | None = None,
    last_active_at: SiteUsersDateRangeInput | None = None,
    deleted_at: SiteUsersDateRangeInput | None = None,
    created_at: SiteUsersDateRangeInput | None = None,
    events_count: SiteUsersNumberRangeInput | None = None,
) -> SiteUsers:
    """`site.users(...)`: the filters; rows are read when nodes or totalCount is asked for."""
    # eventsCount: sitemail keeps no event log, so every user counts 0 events.
    where = directory.SiteFilter(
        query=query,
        site_admin=site_admin,
        username=username,
        email=email,
        created_at=created_at.range() if created_at else None,
        last_active_at=last_active_at.range() if last_active_at else None,
        deleted_at=deleted_at.range() if deleted_at else None,
        zero_events_in_range=_zero_in(events_count),
    )
    return SiteUsers(where=where)


def require_visible(viewer: UserModel | None, user: UserModel) -> None:
    """Fields that hold private data follow the rule of the mutation beside them."""
    require_self_or_admin(viewer, user)


@strawberry.type
class UserQuery:
    @strawberry.field
    def current_user(self, info: Info) -> User | None:
        user = info.context.user
        return User.of(user) if user is not None else None

    @strawberry.field(description="A user by username or by verified email (signed-in callers).")
    async def user(
        self, info: Info, username: str | None = None, email: str | None = None
    ) -> User | None:
        viewer = info.context.user
        found = await run(lambda: directory.lookup(viewer, username, email))
        return User.of(found) if found is not None else None

    @strawberry.field(description="Users, by creation; first/after pages (site admins).")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
        tag: str | None = None,
    ) -> UserConnection:
        viewer = info.context.user
        page = await run(lambda: directory.page(viewer, first, after, query, tag=tag))
        return UserConnection.of(page)
