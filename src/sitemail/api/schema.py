"""The GraphQL schema: one type per area merged into Query and Mutation."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

from sitemail.api import limits
from sitemail.api.accounts import AccountsMutation
from sitemail.api.context import AuthError
from sitemail.api.deliveries import DeliveriesMutation, DeliveriesQuery
from sitemail.api.diagnostics import DiagnosticsMutation
from sitemail.api.email import EmailMutation
from sitemail.api.monitors import MonitorsMutation, MonitorsQuery
from sitemail.api.nodes import NodeQuery
from sitemail.api.orgs import OrgsMutation, OrgsQuery
from sitemail.api.siteconfig import SiteConfigMutation, SiteConfigQuery
from sitemail.api.users import UserQuery

log = logging.getLogger("sitemail.api")


@strawberry.type
class Query(SiteConfigQuery, UserQuery, DeliveriesQuery, MonitorsQuery, OrgsQuery, NodeQuery):
    pass


@strawberry.type
class Mutation(
    SiteConfigMutation,
    EmailMutation,
    DeliveriesMutation,
    DiagnosticsMutation,
    AccountsMutation,
    MonitorsMutation,
    OrgsMutation,
):
    pass


def _visible(error: GraphQLError) -> bool:
    # Our own errors carry user-facing text; anything else is masked (no tracebacks, no secrets).
    original = error.original_error
    return original is None or isinstance(original, AuthError | GraphQLError | ValueError)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Refusals and bad input are answers, not faults: log only the unexpected (with traceback).
        unexpected = [e for e in errors if not _visible(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)
        for error in errors:
            if _visible(error):
                log.info("graphql: %s", error.message)


schema = Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        *limits.extensions(),
        lambda: MaskErrors(should_mask_error=lambda e: not _visible(e)),
    ],
)
