"""Audit finding 1: an invitation never hands its sender someone else's address.

The attack, through the real interfaces: a user invites ceo@victim.example to their own org,
adds that address to their own account, accepts their own invitation with the invitationURL
they were given. The address must stay unverified, the owner must still be able to sign up with
it, and the owner's first external sign-in must not land in the attacker's account.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.models import User, UserEmail
from sitemail.api.users import node_id
from tests.accounts.conftest import (
    EXTERNAL_URL,
    PASSWORD,
    configure,
    make_user,
    post_json,
    token_for,
)
from tests.orgs.conftest import SIGNING

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = "ceo@victim.example"
CREATE = "mutation($n: String!) { createOrganization(name: $n) { id } }"
INVITE = (
    "mutation($o: ID!, $e: String) { inviteUserToOrganization(organization: $o, email: $e) "
    "{ sentInvitationEmail invitationURL } }"
)
ADD = "mutation($u: ID!, $e: String!) { addUserEmail(user: $u, email: $e) { alwaysNil } }"


def _attack(mail: Any, gql: Any) -> User:
    make_user("admin", site_admin=True)
    mallory = make_user("mallory")
    token = token_for(mallory)
    org = gql(CREATE, token, n="evil")["data"]["createOrganization"]
    result = gql(INVITE, token, o=org["id"], e=VICTIM)["data"]["inviteUserToOrganization"]
    assert gql(ADD, token, u=node_id("User", mallory.pk), e=VICTIM)["data"] is not None
    client = Client()
    client.force_login(mallory, backend="django.contrib.auth.backends.ModelBackend")
    path = result["invitationURL"][len(EXTERNAL_URL) :]
    assert client.post(path, {"response": "ACCEPT"}).status_code == 200  # joining is harmless
    return mallory


def test_accepting_ones_own_invitation_verifies_nothing(mail: Any, gql: Any) -> None:
    configure(mail, organizationInvitations=SIGNING)
    mallory = _attack(mail, gql)
    assert not UserEmail.objects.get(user=mallory, email=VICTIM).verified
    # The owner signs up with their address, and Mallory cannot sign in with it.
    owner = post_json(
        Client(), "/-/sign-up", {"username": "ceo", "email": VICTIM, "password": PASSWORD}
    )
    assert owner.status_code == 200, owner.content
    assert not UserEmail.objects.get(user=mallory, email=VICTIM).verified
