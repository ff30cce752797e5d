"""GraphQL: `node(id:)` for every type with an id, each visible as its own query makes it."""

from __future__ import annotations

from collections.abc import Callable

import strawberry

from sitemail.accounts import directory, tokens
from sitemail.accounts.models import User as UserModel
from sitemail.accounts.users import UserError, require_self_or_admin
from sitemail.api import monitors as m
from sitemail.api.common import Node, run, split_id
from sitemail.api.context import Info
from sitemail.api.orgs import Org, OrganizationInvitation
from sitemail.api.siteconfig import SITE_ID, Site
from sitemail.api.users import AccessToken, User
from sitemail.monitors import service as monitor_service
from sitemail.orgs import invitations
from sitemail.orgs.models import Organization

Resolver = Callable[[UserModel, int], Node | None]


def _user(actor: UserModel, pk: int) -> Node | None:
    found = directory.by_id(actor, pk)
    return User.of(found) if found is not None else None


def _org(actor: UserModel, pk: int) -> Node | None:
    found = Organization.objects.filter(pk=pk).first()
    return Org.of(found) if found is not None else None


def _token(actor: UserModel, pk: int) -> Node | None:
    try:
        row = tokens.get(pk)
        require_self_or_admin(actor, row.user)
    except UserError:
        return None
    return AccessToken.of(row)


def _monitor(actor: UserModel, pk: int) -> m.Monitor | None:
    try:
        return m._loaded(monitor_service.get_for(actor, pk))
    except monitor_service.MonitorError:
        return None


def _trigger(actor: UserModel, pk: int) -> Node | None:
    found = _monitor(actor, pk)
    return found.trigger if found is not None else None


def _action(actor: UserModel, pk: int) -> Node | None:
    row = monitor_service.visible_action(actor, pk)
    return m._action(row) if row is not None else None


def _trigger_event(actor: UserModel, pk: int) -> Node | None:
    found = monitor_service.visible_trigger_run(actor, pk)
    return m._event(*found) if found is not None else None


def _action_event(actor: UserModel, pk: int) -> Node | None:
    row = monitor_service.visible_action_run(actor, pk)
    return m.MonitorActionEvent.of(row) if row is not None else None


def _invitation(actor: UserModel, pk: int) -> Node | None:
    row = invitations.get_for(actor, pk)
    return OrganizationInvitation.of(row) if row is not None else None


RESOLVERS: dict[str, Resolver] = {
    "User": _user,
    "Org": _org,
    "AccessToken": _token,
    "CodeMonitor": _monitor,
    "MonitorQuery": _trigger,
    "MonitorEmail": _action,
    "MonitorWebhook": _action,
    "MonitorSlackWebhook": _action,
    "MonitorTriggerEvent": _trigger_event,
    "MonitorActionEvent": _action_event,
    "OrganizationInvitation": _invitation,
}


def _resolve(actor: UserModel, value: str) -> Node | None:
    kind, key = split_id(value)
    if kind == "Site":
        return Site(id=SITE_ID)
    resolver = RESOLVERS.get(kind)
    if resolver is None or not key.isdigit():
        return None
    found = resolver(actor, int(key))
    # An action id names its type: a MonitorEmail id never resolves to a webhook.
    if found is not None and kind in _TYPED and type(found).__name__ != kind:
        return None
    return found


_TYPED = frozenset({"MonitorEmail", "MonitorWebhook", "MonitorSlackWebhook"})


@strawberry.type
class NodeQuery:
    @strawberry.field(description="The object with this ID (signed-in callers), or null.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        actor = info.context.require_user()
        return await run(lambda: _resolve(actor, str(id)))
