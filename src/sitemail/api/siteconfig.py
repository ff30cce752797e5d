"""GraphQL: the site configuration (read redacted, update with the version id)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from asgiref.sync import sync_to_async
from graphql import GraphQLError

from sitemail.accounts import notify, tokens
from sitemail.api.common import Node, node_id, run
from sitemail.api.context import Info
from sitemail.api.users import AccessTokenConnection, SiteUsers, site_users
from sitemail.siteconfig import service


@strawberry.type
class SiteConfiguration:
    id: int
    effective_contents: str
    validation_messages: list[str]


def _read() -> SiteConfiguration:
    current = service.current()
    return SiteConfiguration(
        id=current.id,
        effective_contents=service.effective_contents(),
        validation_messages=service.validation_messages(),
    )


SITE_ID = node_id("Site", "site")


@strawberry.type
class Site(Node):
    id: strawberry.ID

    @strawberry.field
    async def configuration(self, info: Info) -> SiteConfiguration:
        info.context.require_site_admin()
        return await sync_to_async(_read)()

    @strawberry.field(description="Whether users are sent an email to verify an added address.")
    async def sends_email_verification_emails(self) -> bool:
        return await run(notify.email_enabled)

    users: SiteUsers = strawberry.field(
        resolver=site_users, description="All users, soft-deleted ones too (site admins)."
    )

    @strawberry.field(description="Whether the viewer can restart the site: never here.")
    def can_reload_site(self) -> bool:
        return False

    @strawberry.field(description="Every user's access tokens, newest first (site admins).")
    async def access_tokens(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AccessTokenConnection:
        viewer = info.context.user
        page = await run(lambda: tokens.site_page(viewer, first, after))
        return AccessTokenConnection.of(page)


@strawberry.type
class SiteConfigQuery:
    @strawberry.field
    def site(self) -> Site:
        return Site(id=SITE_ID)


@strawberry.type
class SiteConfigMutation:
    @strawberry.mutation(
        description="Replace the site configuration. Fails, saving nothing, if lastID is stale "
        "or the document is invalid; every problem is listed. Returns whether a restart is needed."
    )
    async def update_site_configuration(
        self,
        info: Info,
        last_id: Annotated[int, strawberry.argument(name="lastID")],
        input: str,
    ) -> bool:
        admin = info.context.require_site_admin()
        try:
            await sync_to_async(service.update)(last_id, input, author=admin)
        except service.SiteConfigError as exc:
            raise GraphQLError(str(exc), extensions={"problems": exc.problems}) from exc
        return False
