"""The GraphQL schema: one type per area merged into Query and Mutation."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from sitemail.api.context import AuthError
from sitemail.api.email import EmailMutation
from sitemail.api.siteconfig import SiteConfigMutation, SiteConfigQuery
from sitemail.api.users import UserQuery


@strawberry.type
class Query(SiteConfigQuery, UserQuery):
    pass


@strawberry.type
class Mutation(SiteConfigMutation, EmailMutation):
    pass


def _visible(error: GraphQLError) -> bool:
    # Our own errors carry user-facing text; anything else is masked (no tracebacks, no secrets).
    original = error.original_error
    return original is None or isinstance(original, AuthError | GraphQLError | ValueError)


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[lambda: MaskErrors(should_mask_error=lambda e: not _visible(e))],
)
