"""The SSO safeguard (SPEC 5) and what an SSO-only site turns off, as a new user would try it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.external import safeguard
from sitemail.accounts.models import User
from sitemail.siteconfig import jsonc
from sitemail.siteconfig import service as siteconfig
from tests.accounts.conftest import (
    PASSWORD,
    configure,
    deliver,
    make_user,
    post_json,
    token_for,
)
from tests.external_auth.conftest import button, external_sign_in, signed_in_as
from tests.external_auth.peers import OIDCProvider

pytestmark = pytest.mark.django_db(transaction=True)

UPDATE = (
    "mutation($id: Int!, $input: String!) { updateSiteConfiguration(lastID: $id, input: $input) }"
)


def save_providers(gql: Any, token: str, providers: list[dict[str, Any]]) -> Any:
    """Replace auth.providers through the GraphQL API, as the admin's editor does."""
    version = gql("{ site { configuration { id effectiveContents } } }", token)
    config = version["data"]["site"]["configuration"]
    doc = jsonc.parse(config["effectiveContents"])  # secrets stay "REDACTED": kept on save
    doc["auth.providers"] = providers
    return gql(UPDATE, token, id=config["id"], input=json.dumps(doc))


def test_removing_builtin_waits_for_an_admin_with_an_sso_account(
    mail: Any, oidc: OIDCProvider, gql: Any
) -> None:
    admin = make_user("admin", site_admin=True)
    make_user("staff")  # a non-admin's link does not count
    token = token_for(admin)
    entry = oidc.site_config()
    configure(mail, **{"auth.providers": [{"type": "builtin"}, entry]})

    # A new user signs in with the provider: a verified account, no verification email.
    oidc.user = {"sub": "new-1", "email": "newbie@example.com", "email_verified": True}
    newbie = Client()
    assert external_sign_in(newbie, "openidconnect").status_code == 302
    assert signed_in_as(newbie) == "newbie"
    assert User.objects.get(username="newbie").emails.get().verified
    assert deliver() == 0 and mail.messages == []

    oidc.user = {"sub": "staff-1", "email": "staff@example.com", "email_verified": True}
    assert external_sign_in(Client(), "openidconnect").status_code == 302

    refused = save_providers(gql, token, [entry])
    [error] = refused["errors"]
    assert "removing the builtin provider would lock out every site admin" in error["message"]
    assert siteconfig.get_settings().auth.builtin_enabled

    # The admin links the provider account while signed in (its address differs from theirs).
    browser = Client()
    assert browser.post("/sign-in", {"username": "admin", "password": PASSWORD}).status_code == 302
    oidc.user = {"sub": "boss", "email": "boss@corp.example", "email_verified": True}
    assert external_sign_in(browser, "openidconnect").status_code == 302
    assert admin.external_accounts.get().account_id == "boss"

    accepted = save_providers(gql, token, [entry])
    assert "errors" not in accepted, accepted
    assert not siteconfig.get_settings().auth.builtin_enabled

    # Builtin is gone: no reset, set-password or sign-up anywhere; the admin signs in via SSO.
    reset = post_json(Client(), "/-/reset-password-init", {"email": "admin@example.com"})
    assert reset.status_code == 200
    page = Client().post("/password-reset", {"email": "staff@example.com"})
    assert page.status_code == 200
    created = gql(
        'mutation { createUser(username: "ned", email: "ned@example.com", verifiedEmail: false) '
        "{ resetPasswordURL } }",
        token,
    )
    assert created == {"data": {"createUser": {"resetPasswordURL": None}}}
    sign_up = post_json(
        Client(), "/-/sign-up", {"username": "zed", "email": "z@example.com", "password": PASSWORD}
    )
    assert sign_up.status_code == 400
    new_user_page = Client()
    new_user_page.force_login(admin)
    form = new_user_page.post(
        "/site-admin/users/new", {"username": "oli", "email": "oli@example.com"}
    )
    assert form.status_code == 200 and b"Builtin authentication is off: no password link" in (
        form.content
    )
    assert User.objects.filter(username="oli").exists()
    assert deliver() == 0 and mail.messages == []

    sign_in_page = Client().get("/sign-in").content.decode()
    assert 'name="password"' not in sign_in_page and "Forgot password?" not in sign_in_page
    assert "Sign in with OpenID Connect" in sign_in_page
    sso = Client()
    assert external_sign_in(sso, "openidconnect", button(sso, "openidconnect")).status_code == 302
    assert signed_in_as(sso) == "admin"
    assert (
        post_json(Client(), "/-/sign-in", {"username": "admin", "password": PASSWORD}).status_code
        == 401
    )


def test_safeguard_rules_for_documents() -> None:
    assert safeguard.check({}) == []  # default providers keep builtin
    assert safeguard.check({"auth.providers": [{"type": "builtin"}, {"type": "saml"}]}) == []
    [problem] = safeguard.check({"auth.providers": []})
    assert problem.startswith("auth.providers: removing the builtin provider")
