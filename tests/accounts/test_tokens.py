"""Access tokens: createAccessToken / deleteAccessToken, their emails, and the tokens page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sitemail.api.users import node_id
from tests.accounts.conftest import (
    HOST,
    PASSWORD,
    error_of,
    make_user,
    received,
    text_of,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = (
    "mutation($u: ID!, $s: [String!]!, $n: String!) "
    "{ createAccessToken(user: $u, scopes: $s, note: $n) { id token } }"
)
DELETE = "mutation($id: ID!) { deleteAccessToken(byID: $id) { alwaysNil } }"
ME = "{ currentUser { username } }"


def test_create_use_and_delete_token_with_emails(mail: Any, gql: Any) -> None:
    zoe = make_user("zoe")
    first = token_for(zoe)
    result = gql(CREATE, first, u=node_id("User", zoe.pk), s=["user:all"], n="CI deploy")
    created = result["data"]["createAccessToken"]
    assert created["token"].startswith("sgp_")
    assert gql(ME, created["token"])["data"]["currentUser"] == {"username": "zoe"}
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"New Sourcegraph access token created ({HOST})"
    assert msg["To"] == "zoe@example.com" and "CI deploy" in text_of(msg)

    assert gql(DELETE, first, id=created["id"]) == {
        "data": {"deleteAccessToken": {"alwaysNil": None}}
    }
    gone = Client().post(
        "/.api/graphql",
        data='{"query": "{ currentUser { username } }"}',
        content_type="application/json",
        headers={"Authorization": f"token {created['token']}"},
    )
    assert gone.status_code == 401
    deleted = received(mail, 2)[1]
    assert str(deleted["Subject"]) == f"Sourcegraph access token deleted ({HOST})"


def test_tokens_refused_for_others_and_bad_scopes(mail: Any, gql: Any) -> None:
    amy, ben = make_user("amy"), make_user("ben")
    amy_token, ben_token = token_for(amy), token_for(ben)
    refused = gql(CREATE, ben_token, u=node_id("User", amy.pk), s=["user:all"], n="x")
    assert error_of(refused) == "must be authenticated as the user or as a site admin"
    sudo = gql(
        CREATE, amy_token, u=node_id("User", amy.pk), s=["user:all", "site-admin:sudo"], n="x"
    )
    assert "only site admins" in error_of(sudo)
    bogus = gql(CREATE, amy_token, u=node_id("User", amy.pk), s=["user:all", "root"], n="x")
    assert "unknown root" in error_of(bogus)
    long_note = gql(CREATE, amy_token, u=node_id("User", amy.pk), s=["user:all"], n="n" * 300)
    assert "too long" in error_of(long_note)

    mine = gql(CREATE, amy_token, u=node_id("User", amy.pk), s=["user:all"], n="mine")
    token_id = mine["data"]["createAccessToken"]["id"]
    assert error_of(gql(DELETE, ben_token, id=token_id)) == (
        "must be authenticated as the user or as a site admin"
    )
    still = gql(ME, mine["data"]["createAccessToken"]["token"])
    assert still["data"]["currentUser"] == {"username": "amy"}
    assert "invalid AccessToken ID" in error_of(gql(DELETE, amy_token, id=node_id("User", 1)))
    assert len(received(mail, 1)) == 1  # only the one created token was announced


def test_tokens_page_create_and_delete(mail: Any) -> None:
    make_user("cy")
    client = Client()
    client.post("/sign-in", {"username": "cy", "password": PASSWORD})
    page = client.post("/user/settings/tokens", {"action": "create", "note": "laptop"})
    assert page.status_code == 200 and b'id="new-token">sgp_' in page.content
    assert b"laptop" in page.content
    from sitemail.accounts.models import AccessToken

    row = AccessToken.objects.get(note="laptop")
    after = client.post("/user/settings/tokens", {"action": "delete", "id": str(row.pk)})
    assert b"Deleted the access token." in after.content and b"laptop" not in after.content
    subjects = sorted(str(m["Subject"]) for m in received(mail, 2))
    assert subjects == [
        f"New Sourcegraph access token created ({HOST})",
        f"Sourcegraph access token deleted ({HOST})",
    ]
    assert Client().get("/user/settings/tokens").status_code == 302  # sign-in required
