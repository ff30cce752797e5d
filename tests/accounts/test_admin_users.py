"""Admin-created users: createUser, /site-admin/users/new, randomizeUserPassword, the CLI."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from sitemail.accounts.models import UserEmail
from sitemail.api.users import node_id
from tests.accounts.conftest import (
    EXTERNAL_URL,
    HOST,
    PASSWORD,
    deliver,
    error_of,
    link_in,
    make_user,
    post_json,
    received,
    text_of,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = (
    "mutation($n: String!, $e: String!, $v: Boolean) "
    "{ createUser(username: $n, email: $e, verifiedEmail: $v) "
    "{ resetPasswordURL user { id username emails { email verified isPrimary } } } }"
)
NEW = "a brand new passphrase"


def form(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def test_create_user_unverified_gets_set_password_email_whose_link_verifies(
    mail: Any, gql: Any
) -> None:
    admin = token_for(make_user("admin", site_admin=True))
    body = gql(CREATE, admin, n="rita", e="rita@example.com", v=False)
    result = body["data"]["createUser"]
    assert result["user"]["emails"] == [
        {"email": "rita@example.com", "verified": False, "isPrimary": False}
    ]
    url = result["resetPasswordURL"]
    assert url.startswith(f"{EXTERNAL_URL}/password-reset?userID=")
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"Set your Sourcegraph password ({HOST})"
    assert msg["To"] == "rita@example.com" and url in text_of(msg)

    link = link_in(msg, "/password-reset")
    client = Client()
    assert client.get(link).status_code == 200
    done = client.post("/password-reset", {**form(link), "password": NEW})
    assert done.status_code == 200 and b"Your password was set" in done.content
    row = UserEmail.objects.get(email="rita@example.com")
    assert row.verified and row.is_primary
    ok = post_json(Client(), "/-/sign-in", {"username": "rita", "password": NEW})
    assert ok.status_code == 200


def test_create_user_default_is_verified_and_sends_the_set_password_email(
    mail: Any, gql: Any
) -> None:
    # As Sourcegraph: with email configured and an address given, the new user is sent the
    # set-password email, and the link is returned as well.
    admin = token_for(make_user("admin", site_admin=True))
    result = gql(CREATE, admin, n="sam", e="sam@example.com")["data"]["createUser"]
    assert result["user"]["emails"] == [
        {"email": "sam@example.com", "verified": True, "isPrimary": True}
    ]
    assert result["resetPasswordURL"].startswith(f"{EXTERNAL_URL}/password-reset?userID=")
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"Set your Sourcegraph password ({HOST})"
    assert result["resetPasswordURL"].endswith(link_in(msg, "/password-reset"))
    # The returned link sets the password (the admin hands it over).
    query = form(result["resetPasswordURL"])
    assert (
        post_json(Client(), "/-/reset-password-code", {**query, "password": NEW}).status_code == 200
    )


def test_create_user_refused_for_non_admins_and_bad_input(mail: Any, gql: Any) -> None:
    user = token_for(make_user("tom"))
    assert error_of(gql(CREATE, user, n="uma", e="uma@example.com")) == "must be site admin"
    admin = token_for(make_user("admin", site_admin=True))
    assert "already taken" in error_of(gql(CREATE, admin, n="TOM", e="x@example.com"))
    assert "already in use" in error_of(gql(CREATE, admin, n="vic", e="tom@example.com"))
    assert "not a valid email" in error_of(gql(CREATE, admin, n="vic", e="nope"))
    assert "username" in error_of(gql(CREATE, admin, n="x" * 300, e="v@example.com"))
    assert not UserEmail.objects.filter(email__in=["uma@example.com", "x@example.com"]).exists()


def test_new_user_page_shows_link_and_sends_set_password_email(mail: Any) -> None:
    make_user("admin", site_admin=True)
    make_user("walt")
    non_admin = Client()
    non_admin.post("/sign-in", {"username": "walt", "password": PASSWORD})
    assert non_admin.get("/site-admin/users/new").status_code == 403

    client = Client()
    client.post("/sign-in", {"username": "admin", "password": PASSWORD})
    assert b'action="/site-admin/users/new"' in client.get("/site-admin/users/new").content
    page = client.post("/site-admin/users/new", {"username": "xena", "email": "xena@example.com"})
    assert page.status_code == 200
    assert f"{EXTERNAL_URL}/password-reset?userID=".encode() in page.content
    assert not UserEmail.objects.get(email="xena@example.com").verified
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"Set your Sourcegraph password ({HOST})"
    link = link_in(msg, "/password-reset")
    assert link.split("code=")[1].encode() in page.content  # the page shows the same link
    assert Client().post("/password-reset", {**form(link), "password": NEW}).status_code == 200
    assert UserEmail.objects.get(email="xena@example.com").verified
    dup = client.post("/site-admin/users/new", {"username": "xena", "email": "x2@example.com"})
    assert dup.status_code == 400 and b"already taken" in dup.content


def test_randomize_user_password(mail: Any, gql: Any) -> None:
    admin = token_for(make_user("admin", site_admin=True))
    yves = make_user("yves")
    mutation = (
        "mutation($u: ID!) { randomizeUserPassword(user: $u) { resetPasswordURL emailSent } }"
    )
    refused = gql(mutation, token_for(yves), u=node_id("User", yves.pk))
    assert error_of(refused) == "must be site admin"
    result = gql(mutation, admin, u=node_id("User", yves.pk))["data"]["randomizeUserPassword"]
    assert result["emailSent"] is True
    assert result["resetPasswordURL"].startswith(f"{EXTERNAL_URL}/password-reset?userID={yves.pk}")
    assert (
        post_json(Client(), "/-/sign-in", {"username": "yves", "password": PASSWORD}).status_code
        == 401
    )
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"Reset your Sourcegraph password ({HOST})"
    assert result["resetPasswordURL"] in text_of(msg)


def test_cli_users_create_makes_a_verified_primary_email(mail: Any, gql: Any) -> None:
    from sitemail.cli import main

    main(["users", "create", "cli-user", "--email", "cli@example.com", "--password", NEW])
    token = token_for(make_user("admin", site_admin=True))
    user = gql('{ user(username: "cli-user") { primaryEmail { email verified } } }', token)
    assert user == {
        "data": {"user": {"primaryEmail": {"email": "cli@example.com", "verified": True}}}
    }
    assert deliver() == 0  # nothing to verify, so nothing sent
