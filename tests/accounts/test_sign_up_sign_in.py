"""Builtin sign-up, sign-in, sign-out, email verification by link, and lockout with unlock links."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.auth import INCORRECT, LOCKED, SIGNUP_DISABLED
from sitemail.accounts.models import User
from tests.accounts.conftest import (
    HOST,
    PASSWORD,
    configure,
    link_in,
    make_user,
    post_json,
    received,
)

pytestmark = pytest.mark.django_db(transaction=True)

ME = (
    "{ currentUser { username siteAdmin emails { email verified isPrimary verificationPending } } }"
)


def sign_up(client: Client, username: str, password: str = PASSWORD) -> Any:
    return post_json(
        client,
        "/-/sign-up",
        {"username": username, "email": f"{username}@example.com", "password": password},
    )


def test_first_user_is_verified_site_admin_later_ones_verify_by_link(mail: Any, gql: Any) -> None:
    first = Client()
    assert sign_up(first, "root").status_code == 200
    me = gql(ME, client=first)["data"]["currentUser"]
    assert me["siteAdmin"] is True
    assert User.objects.get(username="root").password.startswith("argon2$argon2id$")
    assert me["emails"] == [
        {
            "email": "root@example.com",
            "verified": True,
            "isPrimary": True,
            "verificationPending": False,
        }
    ]

    second = Client()
    assert sign_up(second, "bob").status_code == 200
    me = gql(ME, client=second)["data"]["currentUser"]
    assert me["siteAdmin"] is False
    assert me["emails"] == [
        {
            "email": "bob@example.com",
            "verified": False,
            "isPrimary": False,
            "verificationPending": True,
        }
    ]
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"Verify your email on Sourcegraph ({HOST})"
    assert msg["To"] == "bob@example.com"
    link = link_in(msg, "/-/verify-email")
    page = Client().get(link)  # the link works without a session
    assert page.status_code == 200 and b"is now verified" in page.content
    assert gql(ME, client=second)["data"]["currentUser"]["emails"][0] == {
        "email": "bob@example.com",
        "verified": True,
        "isPrimary": True,
        "verificationPending": False,
    }
    again = Client().get(link)
    assert again.status_code == 400 and b"invalid or expired" in again.content


def test_sign_up_without_smtp_is_verified_and_sends_nothing(gql: Any) -> None:
    configure(None)
    make_user("root", site_admin=True)
    client = Client()
    assert sign_up(client, "carol").status_code == 200
    emails = gql(ME, client=client)["data"]["currentUser"]["emails"]
    assert emails[0]["verified"] is True and emails[0]["isPrimary"] is True


def test_sign_up_refused_when_signup_disabled_short_password_or_taken(mail: Any) -> None:
    make_user("root", site_admin=True)
    short = sign_up(Client(), "dave", password="short")
    assert short.status_code == 400 and short.content == b"password: must be at least 12 characters"
    taken = sign_up(Client(), "root")
    assert taken.status_code == 400 and b"already taken" in taken.content
    bad = post_json(
        Client(),
        "/-/sign-up",
        {"username": "-bad-", "email": "x@example.com", "password": PASSWORD},
    )
    assert bad.status_code == 400 and b"username" in bad.content
    configure(mail, **{"auth.providers": [{"type": "builtin", "allowSignup": False}]})
    refused = sign_up(Client(), "erin")
    assert refused.status_code == 400 and refused.content.decode() == SIGNUP_DISABLED


def test_sign_up_page_form(mail: Any) -> None:
    make_user("root", site_admin=True)
    client = Client()
    assert b'action="/sign-up"' in client.get("/sign-up").content
    response = client.post(
        "/sign-up", {"username": "frank", "email": "frank@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    page = client.get("/user/settings/emails")
    assert b"frank@example.com" in page.content and b"verification pending" in page.content
    [msg] = received(mail, 1)
    assert Client().get(link_in(msg, "/-/verify-email")).status_code == 200
    assert b"Verified" in client.get("/user/settings/emails").content


def test_sign_in_and_out_json_and_page(mail: Any, gql: Any) -> None:
    make_user("gina")
    client = Client()
    wrong = post_json(client, "/-/sign-in", {"username": "gina", "password": "nope"})
    assert wrong.status_code == 401 and wrong.content.decode() == INCORRECT
    unknown = post_json(client, "/-/sign-in", {"username": "nobody", "password": "nope"})
    assert unknown.status_code == 401 and unknown.content.decode() == INCORRECT
    ok = post_json(client, "/-/sign-in", {"email": "gina@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    assert gql(ME, client=client)["data"]["currentUser"]["username"] == "gina"
    assert post_json(client, "/-/sign-out", {}).status_code == 200
    assert gql(ME, client=client)["data"]["currentUser"] is None

    page = client.post("/sign-in", {"username": "gina", "password": PASSWORD, "next": "/x"})
    assert page.status_code == 302 and page["Location"] == "/x"
    assert client.post("/sign-out").status_code == 302
    assert gql(ME, client=client)["data"]["currentUser"] is None


def test_lockout_sends_unlock_link_that_unlocks_once(smtp_server: Any) -> None:
    server = smtp_server(tls="none")
    lockout = {"consecutivePeriod": 3600, "failedAttemptThreshold": 3, "lockoutPeriod": 1800}
    configure(server, **{"auth.lockout": lockout})
    make_user("hank")
    client = Client()
    for _ in range(3):
        assert (
            post_json(client, "/-/sign-in", {"username": "hank", "password": "x"}).status_code
            == 401
        )
    locked = post_json(client, "/-/sign-in", {"username": "hank", "password": PASSWORD})
    assert locked.status_code == 401 and locked.content.decode() == LOCKED
    [msg] = received(server, 1)
    assert str(msg["Subject"]) == f"Your Sourcegraph account has been locked ({HOST})"
    link = link_in(msg, "/-/unlock-account")
    page = Client().get(link)
    assert page.status_code == 200 and b"is unlocked" in page.content
    assert (
        post_json(client, "/-/sign-in", {"username": "hank", "password": PASSWORD}).status_code
        == 200
    )
    reused = Client().get(link)
    assert reused.status_code == 400 and b"invalid or expired" in reused.content
    forged = Client().get(link[:-3] + "xyz")
    assert forged.status_code == 400


def test_json_endpoints_need_json_not_csrf_tokens_and_pages_need_tokens(mail: Any) -> None:
    make_user("ivan")
    client = Client(enforce_csrf_checks=True)
    # A cross-site form can send urlencoded bodies but never JSON without a CORS preflight.
    form = client.post("/-/sign-in", {"username": "ivan", "password": PASSWORD})
    assert form.status_code == 415
    assert client.post("/sign-in", {"username": "ivan", "password": PASSWORD}).status_code == 403
    ok = post_json(client, "/-/sign-in", {"username": "ivan", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json() == {"username": "ivan"}
