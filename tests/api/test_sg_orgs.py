"""Sourcegraph's clients on organizations: `src orgs ...`, the org members page, site admin."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.relay import to_base64

from sitemail.orgs import service as orgs
from sitemail.orgs.models import Organization, OrganizationMember
from tests.accounts.conftest import configure, received
from tests.api import sourcegraph_ops as ops
from tests.api.conftest import Actor, make_actor
from tests.api.live import LiveAPI
from tests.orgs.conftest import SIGNING

pytestmark = pytest.mark.django_db(transaction=True)


def _org_id(name: str) -> str:
    return to_base64("Org", Organization.objects.get(name=name).pk)


def test_src_orgs_create_get_and_delete(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    created = live.data(ops.SRC_ORGS_CREATE, sg_user.token, name="abc-org", displayName="ABC")
    org_id = created["createOrganization"]["id"]
    assert org_id == _org_id("abc-org")
    got = live.data(ops.SRC_ORGS_GET, sg_user.token, name="abc-org")
    assert got == {
        "organization": {
            "id": org_id,
            "name": "abc-org",
            "displayName": "ABC",
            "members": {"nodes": [{"id": sg_user.id, "username": "alice"}]},
        }
    }
    refused = live.error(ops.SRC_ORGS_DELETE, sg_user.token, organization=org_id)
    assert refused == "must be site admin"
    assert live.data(ops.SRC_ORGS_DELETE, sg_admin.token, organization=org_id) == {
        "deleteOrganization": {"alwaysNil": None}
    }
    assert live.data(ops.SRC_ORGS_GET, sg_admin.token, name="abc-org") == {"organization": None}


def test_src_orgs_list_with_query(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    orgs.create(sg_user.user, "abc-org")
    orgs.create(sg_user.user, "xyz-org")
    got = live.data(ops.SRC_ORGS_LIST, sg_admin.token, first=100, query="abc")
    assert [o["name"] for o in got["organizations"]["nodes"]] == ["abc-org"]
    everything = live.data(ops.SRC_ORGS_LIST, sg_admin.token, first=None, query=None)
    nodes = everything["organizations"]["nodes"]
    assert [o["name"] for o in nodes] == ["abc-org", "xyz-org"]
    assert nodes[0]["members"] == {"nodes": [{"id": sg_user.id, "username": "alice"}]}
    assert live.error(ops.SRC_ORGS_LIST, sg_user.token, first=1, query=None) == (
        "must be site admin"
    )


def test_src_and_web_add_user_to_organization_sends_no_email(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor, smtp_server: Any
) -> None:
    mail = smtp_server(tls="none")
    configure(mail)
    org = orgs.create(sg_admin.user, "acme")
    got = live.data(
        ops.ADD_USER_TO_ORGANIZATION, sg_admin.token, organization=_org_id("acme"), username="alice"
    )
    assert got == {"addUserToOrganization": {"alwaysNil": None}}
    assert OrganizationMember.objects.filter(org=org, user=sg_user.user).exists()
    bob = make_actor("bob")
    refused = live.error(
        ops.ADD_USER_TO_ORGANIZATION, sg_user.token, organization=_org_id("acme"), username="bob"
    )
    assert refused == "must be site admin"
    assert not OrganizationMember.objects.filter(org=org, user=bob.user).exists()
    assert received(mail, 0) == []


def test_web_organizations_page(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    org = orgs.create(sg_user.user, "acme", "Acme Inc")
    orgs.add_member(org, make_actor("bob").user)
    got = live.data(ops.WEB_ORGANIZATIONS, sg_admin.token, first=None, query=None)
    assert got["organizations"]["totalCount"] == 1
    [node] = got["organizations"]["nodes"]
    assert node["id"] == _org_id("acme") and node["displayName"] == "Acme Inc"
    assert node["latestSettings"] is None and node["members"] == {"totalCount": 2}
    assert node["createdAt"]


def test_web_delete_organization(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    orgs.create(sg_user.user, "acme")
    got = live.data(
        ops.WEB_DELETE_ORGANIZATION, sg_admin.token, organization=_org_id("acme"), hard=None
    )
    assert got == {"deleteOrganization": {"alwaysNil": None}}
    assert not Organization.objects.exists()


def test_web_organization_members_page(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    org = orgs.create(sg_user.user, "acme")
    outsider = make_actor("mallory")
    as_member = live.data(ops.WEB_ORGANIZATION_MEMBERS, sg_user.token, id=_org_id("acme"))
    assert as_member == {
        "node": {
            "viewerCanAdminister": True,
            "members": {
                "nodes": [
                    {"id": sg_user.id, "username": "alice", "displayName": "", "avatarURL": None}
                ],
                "totalCount": 1,
            },
        }
    }
    admin = live.data(ops.WEB_ORGANIZATION_MEMBERS, sg_admin.token, id=_org_id("acme"))
    assert admin["node"]["viewerCanAdminister"] is True
    body = live(ops.WEB_ORGANIZATION_MEMBERS, outsider.token, id=_org_id("acme"))
    assert body["errors"][0]["message"] == "must be a member of organization 'acme' or a site admin"
    assert body["errors"][0]["path"] == ["node", "members"]
    assert org.members.count() == 1


def test_web_invite_user_to_organization(live: LiveAPI, sg_user: Actor, smtp_server: Any) -> None:
    mail = smtp_server(tls="none")
    configure(mail, organizationInvitations=SIGNING)
    orgs.create(sg_user.user, "acme")
    make_actor("bob")
    got = live.data(
        ops.WEB_INVITE_USER_TO_ORGANIZATION,
        sg_user.token,
        organization=_org_id("acme"),
        username="bob",
    )
    result = got["inviteUserToOrganization"]
    assert result["sentInvitationEmail"] is True
    assert "/organizations/invitation/" in result["invitationURL"]
    [msg] = received(mail, 1)
    assert msg["To"] == "bob@example.com"


def test_web_remove_user_from_organization(live: LiveAPI, sg_user: Actor) -> None:
    org = orgs.create(sg_user.user, "acme")
    bob = make_actor("bob")
    orgs.add_member(org, bob.user)
    got = live.data(
        ops.WEB_REMOVE_USER_FROM_ORGANIZATION,
        sg_user.token,
        user=bob.id,
        organization=_org_id("acme"),
    )
    assert got == {"removeUserFromOrganization": {"alwaysNil": None}}
    assert list(OrganizationMember.objects.values_list("user__username", flat=True)) == ["alice"]
