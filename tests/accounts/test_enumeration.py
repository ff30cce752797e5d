"""Audit finding 12: sign-in answers alike for existing and unknown users, and a password change
can revoke every access token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts import tokens
from tests.accounts.conftest import PASSWORD, configure, make_user, post_json, token_for

pytestmark = pytest.mark.django_db(transaction=True)

LOCKOUT = {"consecutivePeriod": 3600, "failedAttemptThreshold": 3, "lockoutPeriod": 1800}
UPDATE = (
    "mutation($o: String!, $n: String!, $r: Boolean) { updatePassword(oldPassword: $o, "
    "newPassword: $n, revokeAccessTokens: $r) { alwaysNil } }"
)


def _answers(login: str) -> list[tuple[int, str]]:
    out = []
    for _ in range(5):
        r = post_json(Client(), "/-/sign-in", {"username": login, "password": "wrong password"})
        out.append((r.status_code, r.content.decode()))
    return out


def test_lockout_answers_alike_for_existing_and_unknown_users(mail: Any) -> None:
    configure(mail, **{"auth.lockout": LOCKOUT})
    make_user("hank")
    make_user("jill")
    known, unknown = _answers("hank"), _answers("nobody-here")
    assert known == unknown, (known, unknown)
    assert "locked out" in known[-1][1]
    assert _answers("jill@example.com") == _answers("nobody@example.com")


def test_password_change_can_revoke_all_access_tokens(mail: Any, gql: Any) -> None:
    user = make_user("ivy")
    keep, other = token_for(user), token_for(user)
    body = gql(UPDATE, keep, o=PASSWORD, n="another long password", r=False)
    assert body["data"] is not None, body
    assert tokens.authenticate_sync(other) is not None  # not asked: tokens stay

    body = gql(UPDATE, keep, o="another long password", n="a third long password", r=True)
    assert body["data"] is not None, body
    assert tokens.authenticate_sync(keep) is None and tokens.authenticate_sync(other) is None
    denied = Client().post(
        "/.api/graphql",
        data=json.dumps({"query": "{ currentUser { username } }"}),
        content_type="application/json",
        headers={"Authorization": f"token {other}"},
    )
    assert denied.status_code == 401
