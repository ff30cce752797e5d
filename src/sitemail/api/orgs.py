"""GraphQL: organizations, members, organization invitations and instance invitations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry

from sitemail.accounts.models import User as UserModel
from sitemail.accounts.users import UserError, get_by_id
from sitemail.api.common import (
    EmptyResponse,
    Node,
    PageInfo,
    connection,
    decode_id,
    node_id,
    prefetched,
    run_unless,
)
from sitemail.api.common import run as _run
from sitemail.api.context import Info
from sitemail.api.users import Namespace, User, UserConnection
from sitemail.orgs import instance, invitations, service
from sitemail.orgs.models import Organization as OrgModel
from sitemail.orgs.models import OrganizationInvitation as InvitationModel


@strawberry.enum
class OrganizationInvitationResponseType(enum.Enum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"


@strawberry.type(description="Settings: sitemail keeps none for users or organizations.")
class Settings:
    created_at: datetime
    contents: str


@strawberry.type
class OrganizationInvitation(Node):
    id: strawberry.ID
    organization: Org
    sender: User
    recipient: User | None
    recipient_email: str | None
    created_at: datetime
    expires_at: datetime
    notified_at: datetime | None
    responded_at: datetime | None
    response_type: OrganizationInvitationResponseType | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: InvitationModel) -> OrganizationInvitation:
        return cls(
            id=node_id("OrganizationInvitation", row.pk),
            organization=Org.of(row.org),
            sender=User.of(row.sender),
            recipient=User.of(row.recipient) if row.recipient is not None else None,
            recipient_email=row.recipient_email or None,
            created_at=row.created_at,
            expires_at=row.expires_at,
            notified_at=row.notified_at,
            responded_at=row.responded_at,
            response_type=OrganizationInvitationResponseType(row.response)
            if row.response
            else None,
            revoked_at=row.revoked_at,
        )


@strawberry.type
class InvitationList:
    nodes: list[OrganizationInvitation]
    total_count: int


@strawberry.type
class Org(Node, Namespace):
    id: strawberry.ID
    name: str
    display_name: str
    created_at: datetime
    url: str
    settings_url: str = strawberry.field(name="settingsURL")
    namespace_name: str
    latest_settings: Settings | None = None
    model: strawberry.Private[OrgModel]

    @classmethod
    def of(cls, org: OrgModel) -> Org:
        url = f"/organizations/{org.name}"
        return cls(
            id=node_id("Org", org.pk),
            name=org.name,
            display_name=org.display_name,
            created_at=org.created_at,
            url=url,
            settings_url=f"{url}/settings",
            namespace_name=org.name,
            model=org,
        )

    @strawberry.field(description="Members (visible to members and site admins).")
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
    ) -> UserConnection:
        viewer = info.context.user
        page = await _run(lambda: service.member_page(viewer, self.model, first, after, query))
        return UserConnection.of(page)

    @strawberry.field(description="Pending, unexpired invitations (members and site admins).")
    async def pending_invitations(self, info: Info) -> InvitationList:
        rows = await _run(lambda: invitations.pending_for_org(info.context.user, self.model))
        return InvitationList(
            nodes=[OrganizationInvitation.of(r) for r in rows], total_count=len(rows)
        )

    @strawberry.field(description="Whether the caller is a member.")
    async def viewer_is_member(self, info: Info) -> bool:
        user = info.context.user
        return user is not None and await _run(lambda: service.is_member(self.model, user))

    @strawberry.field(description="Whether the caller may manage it (members and site admins).")
    async def viewer_can_administer(self, info: Info) -> bool:
        user = info.context.user
        if user is None:
            return False
        return user.site_admin or await _run(lambda: service.is_member(self.model, user))


@strawberry.type
class OrgConnection:
    nodes: list[Org]
    total_count: int
    page_info: PageInfo


async def orgs_of(user: UserModel) -> OrgConnection:
    """User.organizations (read from the users page's prefetch when there is one)."""
    loaded = prefetched(user, "org_memberships")
    orgs = await run_unless(loaded, lambda: [m.org for m in user.org_memberships.all()])
    orgs.sort(key=lambda o: o.name)
    return OrgConnection(
        nodes=[Org.of(o) for o in orgs],
        total_count=len(orgs),
        page_info=PageInfo(has_next_page=False, end_cursor=None),
    )


@strawberry.type
class InviteUserToOrganizationResult:
    sent_invitation_email: bool
    invitation_url: str = strawberry.field(name="invitationURL")


def _org(org_id: str) -> OrgModel:
    return service.get_by_id(decode_id("Org", org_id))


def _invitation(invitation_id: str) -> InvitationModel:
    return invitations.get(decode_id("OrganizationInvitation", invitation_id))


OrgArg = Annotated[strawberry.ID, strawberry.argument(name="organization")]


@strawberry.type
class OrgsQuery:
    @strawberry.field(description="An organization by name (signed-in callers), or null.")
    async def organization(self, info: Info, name: str) -> Org | None:
        info.context.require_user()
        try:
            org = await _run(lambda: service.get_by_name(name))
        except UserError:
            return None
        return Org.of(org)

    @strawberry.field(description="All organizations, by creation (site admins).")
    async def organizations(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
    ) -> OrgConnection:
        viewer = info.context.user
        page = await _run(lambda: service.page(viewer, first, after, query))
        return connection(OrgConnection, page, Org.of)

    @strawberry.field(description="The invitation behind a link, for its signed-in recipient.")
    async def invitation_by_token(self, info: Info, token: str) -> OrganizationInvitation:
        actor = info.context.require_user()
        row = await _run(lambda: invitations.by_token(actor, token))
        return OrganizationInvitation.of(row)


@strawberry.type
class OrgsMutation:
    @strawberry.mutation(description="Create an organization; the caller becomes its member.")
    async def create_organization(
        self, info: Info, name: str, display_name: str | None = None
    ) -> Org:
        actor = info.context.require_user()
        org = await _run(lambda: service.create(actor, name, display_name or ""))
        return Org.of(org)

    @strawberry.mutation(description="Delete an organization (site admins).")
    async def delete_organization(
        self, info: Info, organization: OrgArg, hard: bool | None = None
    ) -> EmptyResponse | None:
        actor = info.context.require_site_admin()
        await _run(lambda: service.delete(actor, _org(organization)))
        return EmptyResponse()

    @strawberry.mutation(description="Add a member at once, with no invitation (site admins).")
    async def add_user_to_organization(
        self, info: Info, organization: OrgArg, username: str
    ) -> EmptyResponse:
        actor = info.context.require_site_admin()
        await _run(lambda: service.admin_add_member(actor, _org(organization), username))
        return EmptyResponse()

    @strawberry.mutation(description="Remove a member (org members and site admins).")
    async def remove_user_from_organization(
        self,
        info: Info,
        user: Annotated[strawberry.ID, strawberry.argument(name="user")],
        organization: OrgArg,
    ) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(
            lambda: service.remove_member(
                actor, _org(organization), get_by_id(decode_id("User", user))
            )
        )
        return EmptyResponse()

    @strawberry.mutation(
        description="Invite a user (by username) or an address (by email) to an organization."
    )
    async def invite_user_to_organization(
        self,
        info: Info,
        organization: OrgArg,
        username: str | None = None,
        email: str | None = None,
    ) -> InviteUserToOrganizationResult:
        actor = info.context.require_user()
        result = await _run(
            lambda: invitations.invite(actor, _org(organization), username=username, email=email)
        )
        return InviteUserToOrganizationResult(
            sent_invitation_email=result.sent_email, invitation_url=result.url
        )

    @strawberry.mutation(description="Accept or reject an invitation (its recipient only).")
    async def respond_to_organization_invitation(
        self,
        info: Info,
        organization_invitation: strawberry.ID,
        response_type: OrganizationInvitationResponseType,
    ) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(
            lambda: invitations.respond(
                actor, _invitation(organization_invitation), response_type.value
            )
        )
        return EmptyResponse()

    @strawberry.mutation(description="Revoke a pending invitation (org members, site admins).")
    async def revoke_organization_invitation(
        self, info: Info, organization_invitation: strawberry.ID
    ) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: invitations.revoke(actor, _invitation(organization_invitation)))
        return EmptyResponse()

    @strawberry.mutation(description="Email a pending invitation again, with a new expiry.")
    async def resend_organization_invitation_notification(
        self, info: Info, organization_invitation: strawberry.ID
    ) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: invitations.resend(actor, _invitation(organization_invitation)))
        return EmptyResponse()

    @strawberry.mutation(description="Invite an address to sign up (once per address per 24 h).")
    async def invite_email_to_sourcegraph(self, info: Info, email: str) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: instance.invite(actor, email))
        return EmptyResponse()
