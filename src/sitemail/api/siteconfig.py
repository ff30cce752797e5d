"""GraphQL: the site configuration (read redacted, update with the version id)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from asgiref.sync import sync_to_async
from graphql import GraphQLError

from sitemail.api.context import Info
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


@strawberry.type
class Site:
    @strawberry.field
    async def configuration(self, info: Info) -> SiteConfiguration:
        info.context.require_site_admin()
        return await sync_to_async(_read)()


@strawberry.type
class SiteConfigQuery:
    @strawberry.field
    def site(self) -> Site:
        return Site()


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
