"""Sourcegraph's web app on user emails and access tokens (settings and site-admin pages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry.relay import from_base64

from sitemail.accounts.models import AccessToken, UserEmail
from tests.accounts.conftest import configure, received, text_of
from tests.api import sourcegraph_ops as ops
from tests.api.conftest import Actor
from tests.api.live import LiveAPI

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL_FIELDS = ("email", "isPrimary", "verified", "verificationPending", "viewerCanManuallyVerify")


def test_user_emails_for_self_admin_and_refused_for_others(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    own = live.data(ops.WEB_USER_EMAILS, sg_user.token, user=sg_user.id)
    assert own == {
        "node": {
            "emails": [
                {
                    "email": "alice@example.com",
                    "isPrimary": True,
                    "verified": True,
                    "verificationPending": False,
                    "viewerCanManuallyVerify": False,
                }
            ]
        }
    }
    by_admin = live.data(ops.WEB_USER_EMAILS, sg_admin.token, user=sg_user.id)
    assert by_admin["node"]["emails"][0]["viewerCanManuallyVerify"] is True
    body = live(ops.WEB_USER_EMAILS, sg_user.token, user=sg_admin.id)
    assert body["data"] == {"node": None}
    assert body["errors"][0]["message"] == "must be authenticated as the user or as a site admin"


def test_site_flags_sends_email_verification_emails(
    live: LiveAPI, sg_user: Actor, smtp_server: Any
) -> None:
    assert live.data(ops.WEB_SENDS_VERIFICATION, sg_user.token) == {
        "site": {"sendsEmailVerificationEmails": False}
    }
    configure(smtp_server(tls="none"))
    assert live.data(ops.WEB_SENDS_VERIFICATION, sg_user.token) == {
        "site": {"sendsEmailVerificationEmails": True}
    }


def test_add_resend_verify_make_primary_and_remove_an_email(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor, smtp_server: Any
) -> None:
    mail = smtp_server(tls="none")
    configure(mail)
    me, new = sg_user.id, "alice.work@example.com"
    nil = {"alwaysNil": None}
    assert live.data(ops.WEB_ADD_USER_EMAIL, sg_user.token, user=me, email=new) == {
        "addUserEmail": nil
    }
    sent = {str(m["Subject"]).split(" (")[0]: m for m in received(mail, 2)}
    assert sent["Verify your email on Sourcegraph"]["To"] == new
    assert sent["Update to your Sourcegraph account"]["To"] == "alice@example.com"
    pending = live.data(ops.WEB_USER_EMAILS, sg_user.token, user=me)["node"]["emails"][1]
    assert pending["verificationPending"] is True and pending["verified"] is False
    too_soon = live.error(ops.WEB_RESEND_VERIFICATION_EMAIL, sg_user.token, user=me, email=new)
    assert too_soon == "Last verification email sent too recently"
    refused = live.error(
        ops.WEB_SET_USER_EMAIL_VERIFIED, sg_user.token, user=me, email=new, verified=True
    )
    assert refused == "must be site admin"
    got = live.data(
        ops.WEB_SET_USER_EMAIL_VERIFIED, sg_admin.token, user=me, email=new, verified=True
    )
    assert got == {"setUserEmailVerified": nil}
    assert live.data(ops.WEB_SET_USER_EMAIL_PRIMARY, sg_user.token, user=me, email=new) == {
        "setUserEmailPrimary": nil
    }
    got = live.data(ops.WEB_REMOVE_USER_EMAIL, sg_user.token, user=me, email="alice@example.com")
    assert got == {"removeUserEmail": nil}
    assert list(UserEmail.objects.filter(user=sg_user.user).values_list("email", flat=True)) == [
        new
    ]


def test_access_tokens_page_create_list_and_delete(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor, smtp_server: Any
) -> None:
    mail = smtp_server(tls="none")
    configure(mail)
    created = live.data(
        ops.WEB_CREATE_ACCESS_TOKEN, sg_user.token, user=sg_user.id, scopes=["user:all"], note="CI"
    )["createAccessToken"]
    assert created["token"].startswith("sgp_")
    [msg] = received(mail, 1)
    assert "Expires: never" in text_of(msg)

    listed = live.data(ops.WEB_ACCESS_TOKENS, sg_user.token, user=sg_user.id, first=1)
    node = listed["node"]
    assert node["__typename"] == "User" and node["id"] == sg_user.id
    connection = node["accessTokens"]
    assert connection["totalCount"] == 2 and connection["pageInfo"] == {"hasNextPage": True}
    [newest] = connection["nodes"]
    assert newest["id"] == created["id"] and newest["note"] == "CI"
    assert newest["scopes"] == ["user:all"] and newest["lastUsedAt"] is None
    assert newest["subject"] == newest["creator"] == {"username": "alice"}

    refused = live(ops.WEB_ACCESS_TOKENS, sg_user.token, user=sg_admin.id, first=5)
    assert refused["errors"][0]["path"] == ["node", "accessTokens"]

    by_admin = live.data(
        ops.WEB_CREATE_ACCESS_TOKEN, sg_admin.token, user=sg_user.id, scopes=["user:all"], note="x"
    )["createAccessToken"]
    row = AccessToken.objects.get(pk=int(from_base64(by_admin["id"])[1]))
    assert row.creator_id == sg_admin.user.pk and row.user_id == sg_user.user.pk

    deleted = live.data(ops.WEB_DELETE_ACCESS_TOKEN, sg_user.token, tokenID=created["id"])
    assert deleted == {"deleteAccessToken": {"alwaysNil": None}}
    assert _status(live, created["token"]) == 401


def _status(live: LiveAPI, token: str) -> int:
    response = live.http.post(
        "/.api/graphql",
        json={"query": ops.SRC_PRUNE_CURRENT_USER},
        headers={"Authorization": f"token {token}"},
    )
    return response.status_code


def test_site_admin_access_tokens(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    got = live.data(ops.WEB_SITE_ADMIN_ACCESS_TOKENS, sg_admin.token, first=10)
    connection = got["site"]["accessTokens"]
    assert connection["totalCount"] == 2 and connection["pageInfo"] == {"hasNextPage": False}
    assert [n["subject"]["username"] for n in connection["nodes"]] == ["alice", "root"]
    refused = live.error(ops.WEB_SITE_ADMIN_ACCESS_TOKENS, sg_user.token, first=10)
    assert refused == "must be site admin"


CREATE_EXPIRING = """
mutation($user: ID!, $at: DateTime) {
  createAccessToken(user: $user, scopes: ["user:all"], note: "short", expiresAt: $at) { token }
}"""


def test_token_expiry_is_enforced_at_use_and_stated_in_the_email(
    live: LiveAPI, sg_user: Actor, smtp_server: Any
) -> None:
    mail = smtp_server(tls="none")
    configure(mail)
    at = datetime(2031, 5, 4, 3, 2, tzinfo=UTC)
    secret = live.data(CREATE_EXPIRING, sg_user.token, user=sg_user.id, at=at.isoformat())
    token = secret["createAccessToken"]["token"]
    [msg] = received(mail, 1)
    assert "Expires: 2031-05-04 03:02 UTC" in text_of(msg)
    assert live.data(ops.SRC_PRUNE_CURRENT_USER, token) == {"currentUser": {"username": "alice"}}
    # Once past its expiry the token authenticates nothing.
    AccessToken.objects.filter(note="short").update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert _status(live, token) == 401
    past = live.error(CREATE_EXPIRING, sg_user.token, user=sg_user.id, at="2001-01-01T00:00:00Z")
    assert past == "expiresAt: must be in the future"
