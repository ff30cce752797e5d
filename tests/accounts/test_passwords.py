"""Password reset: init and code endpoints, the pages, rate limits, expiry, SSO-only sites."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from sitemail.accounts import passwords
from sitemail.accounts.models import User
from tests.accounts.conftest import (
    EXTERNAL_URL,
    HOST,
    PASSWORD,
    configure,
    deliver,
    link_in,
    make_user,
    post_json,
    received,
    text_of,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

NEW = "a brand new passphrase"
TOO_MANY = "Too many password reset requests. Try again in a few minutes."


def params(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def signs_in(username: str, password: str) -> bool:
    response = post_json(Client(), "/-/sign-in", {"username": username, "password": password})
    return bool(response.status_code == 200)


def test_reset_code_works_once_then_invalid(mail: Any) -> None:
    ivy = make_user("ivy")
    response = post_json(Client(), "/-/reset-password-init", {"email": "ivy@example.com"})
    assert response.status_code == 200
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == f"Reset your Sourcegraph password ({HOST})"
    link = link_in(msg, "/password-reset")
    assert f"{EXTERNAL_URL}/password-reset?userID={ivy.pk}&code=" in text_of(msg)
    query = params(link)
    assert len(query["code"]) >= 43  # 32 random bytes
    assert User.objects.get(pk=ivy.pk).password_reset_code_hash != query["code"]  # hashed

    body = {"userID": query["userID"], "code": query["code"], "password": NEW}
    short = post_json(Client(), "/-/reset-password-code", {**body, "password": "short"})
    assert short.status_code == 400 and b"at least 12" in short.content  # code not spent
    assert post_json(Client(), "/-/reset-password-code", body).status_code == 200
    assert signs_in("ivy", NEW) and not signs_in("ivy", PASSWORD)
    second = post_json(Client(), "/-/reset-password-code", {**body, "password": "another one here"})
    assert second.status_code == 401
    assert second.content.decode() == "Password reset code was invalid or expired."
    wrong = post_json(Client(), "/-/reset-password-code", {**body, "code": "x" * 43})
    assert wrong.content.decode() == passwords.INVALID_CODE
    [_, update] = received(mail, 2)
    assert str(update["Subject"]) == f"Update to your Sourcegraph account ({HOST})"
    assert "Your password was reset." in text_of(update)


def test_unknown_email_looks_the_same_and_second_request_is_429(mail: Any) -> None:
    make_user("jack")
    known = post_json(Client(), "/-/reset-password-init", {"email": "jack@example.com"})
    unknown = post_json(Client(), "/-/reset-password-init", {"email": "nobody@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 200
    for address in ("jack@example.com", "nobody@example.com"):
        again = post_json(Client(), "/-/reset-password-init", {"email": address})
        assert again.status_code == 429 and again.content.decode() == TOO_MANY
    assert [str(m["To"]) for m in received(mail, 1)] == ["jack@example.com"]


def test_expired_code_is_invalid(mail: Any) -> None:
    configure(mail, **{"auth.passwordResetLinkExpiry": 60})
    kim = make_user("kim")
    post_json(Client(), "/-/reset-password-init", {"email": "kim@example.com"})
    query = params(link_in(received(mail, 1)[0], "/password-reset"))
    User.objects.filter(pk=kim.pk).update(password_reset_code_sent_at="2000-01-01T00:00:00Z")
    response = post_json(Client(), "/-/reset-password-code", {**query, "password": NEW})
    assert response.status_code == 401 and response.content.decode() == passwords.INVALID_CODE
    page = Client().get(f"/password-reset?userID={query['userID']}&code={query['code']}")
    assert page.status_code == 400 and passwords.INVALID_CODE.encode() in page.content


def test_without_smtp_the_exact_message() -> None:
    configure(None)
    make_user("leo")
    response = post_json(Client(), "/-/reset-password-init", {"email": "leo@example.com"})
    assert response.status_code == 400
    assert response.content.decode() == (
        "Unable to reset password because email sending is not configured on this site"
    )


def test_sso_only_site_sends_no_password_links(mail: Any, gql: Any) -> None:
    admin = make_user("admin", site_admin=True)
    # The SSO safeguard: builtin can go only once a site admin has a linked external account.
    admin.external_accounts.create(
        service_type="github", service_id="https://github.com/", client_id="x", account_id="1"
    )
    configure(mail, **{"auth.providers": [{"type": "github", "clientID": "x"}]})
    make_user("max")
    response = post_json(Client(), "/-/reset-password-init", {"email": "max@example.com"})
    assert response.status_code == 200
    created = gql(
        'mutation { createUser(username: "ned", email: "ned@example.com", verifiedEmail: false) '
        "{ resetPasswordURL } }",
        token_for(admin),
    )
    assert created == {"data": {"createUser": {"resetPasswordURL": None}}}
    assert deliver() == 0 and mail.messages == []


def test_pages_forgot_and_reset(mail: Any) -> None:
    make_user("olga")
    client = Client()
    assert b'name="email"' in client.get("/password-reset").content
    sent = client.post("/password-reset", {"email": "olga@example.com"})
    assert sent.status_code == 200 and b"is on its way" in sent.content
    again = client.post("/password-reset", {"email": "olga@example.com"})
    assert again.status_code == 429 and TOO_MANY.encode() in again.content
    link = link_in(received(mail, 1)[0], "/password-reset")
    form = client.get(link)
    assert form.status_code == 200 and b'name="password"' in form.content
    done = client.post("/password-reset", {**params(link), "password": NEW})
    assert done.status_code == 200 and b"Your password was set" in done.content
    assert signs_in("olga", NEW)
    reused = client.post("/password-reset", {**params(link), "password": "yet another passphrase"})
    assert reused.status_code == 400 and passwords.INVALID_CODE.encode() in reused.content


def test_signed_in_users_cannot_use_reset_links(mail: Any) -> None:
    make_user("pia")
    post_json(Client(), "/-/reset-password-init", {"email": "pia@example.com"})
    link = link_in(received(mail, 1)[0], "/password-reset")
    client = Client()
    client.post("/sign-in", {"username": "pia", "password": PASSWORD})
    assert client.get(link).status_code == 403
    response = post_json(client, "/-/reset-password-code", {**params(link), "password": NEW})
    assert response.status_code == 403 and not signs_in("pia", NEW)


def test_update_password_mutation_notifies(mail: Any, gql: Any) -> None:
    quinn = make_user("quinn")
    token = token_for(quinn)
    mutation = (
        "mutation($o: String!, $n: String!) "
        "{ updatePassword(oldPassword: $o, newPassword: $n) { alwaysNil } }"
    )
    wrong = gql(mutation, token, o="nope", n=NEW)
    assert wrong["errors"][0]["message"] == "old password: incorrect"
    assert gql(mutation, token, o=PASSWORD, n=NEW) == {
        "data": {"updatePassword": {"alwaysNil": None}}
    }
    assert signs_in("quinn", NEW)
    [msg] = received(mail, 1)
    assert "Your password was changed." in text_of(msg)
