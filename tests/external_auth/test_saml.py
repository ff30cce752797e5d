"""SAML sign-in against a real identity provider from pysaml2's server side (signed assertions)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.external import safeguard
from sitemail.accounts.external.models import ExternalAccount
from sitemail.accounts.external.providers import configured
from sitemail.accounts.models import User, UserEmail
from tests.accounts.conftest import configure, deliver, make_user
from tests.external_auth.conftest import saml_sign_in, signed_in_as
from tests.external_auth.saml_idp import SAMLIdP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def idp(mail: Any, saml: SAMLIdP) -> SAMLIdP:
    """The site trusts the IdP (its metadata inline) and the IdP trusts the site's metadata."""
    configure(mail, **{"auth.providers": [{"type": "builtin"}, saml.site_config()]})
    [provider] = configured()
    response = Client().get(f"/.auth/saml/metadata?pc={provider.key}")
    assert response.status_code == 200, response.content
    assert b"AssertionConsumerService" in response.content
    saml.trust_sp(response.content.decode())
    return saml


def as_user(idp: SAMLIdP, name_id: str, email: str, **more: str) -> None:
    idp.name_id = name_id
    idp.user = {"mail": [email], **{k: [v] for k, v in more.items()}}


def test_new_user_gets_the_asserted_email_verified(mail: Any, idp: SAMLIdP) -> None:
    make_user("admin", site_admin=True)
    as_user(idp, "nid-pat", "pat@idp.example", uid="pat", displayName="Pat P")
    client = Client()
    response, _ = saml_sign_in(client)
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "pat"
    pat = User.objects.get(username="pat")
    assert pat.display_name == "Pat P"
    [email] = UserEmail.objects.filter(user=pat)
    assert (email.email, email.verified, email.is_primary) == ("pat@idp.example", True, True)
    assert ExternalAccount.objects.get(user=pat).account_id == "nid-pat"
    assert deliver() == 0 and mail.messages == []


def test_admin_link_satisfies_the_safeguard(mail: Any, idp: SAMLIdP) -> None:
    make_user("admin", site_admin=True)
    only_saml = {"auth.providers": [idp.site_config()]}
    assert safeguard.check(only_saml) != []
    as_user(idp, "nid-admin", "admin@example.com")
    client = Client()
    assert saml_sign_in(client)[0].status_code == 302
    assert signed_in_as(client) == "admin" and User.objects.count() == 1
    assert safeguard.check(only_saml) == []


def test_tampered_assertion_is_refused(mail: Any, idp: SAMLIdP) -> None:
    admin = make_user("admin", site_admin=True)
    as_user(idp, "nid-mal", "mal@idp.example")

    def forge(response: str) -> str:
        xml = base64.b64decode(response).replace(b"mal@idp.example", b"admin@example.com")
        return base64.b64encode(xml).decode()

    client = Client()
    response, _ = saml_sign_in(client, tamper=forge)
    assert response.status_code == 401
    assert b"The SAML response was refused: Failed to verify signature" in response.content
    assert signed_in_as(client) is None
    assert list(User.objects.all()) == [admin] and ExternalAccount.objects.count() == 0


def test_unsigned_assertion_is_refused(mail: Any, idp: SAMLIdP) -> None:
    idp.sign_assertion = False
    as_user(idp, "nid-uns", "uns@idp.example")
    client = Client()
    response, _ = saml_sign_in(client)
    assert response.status_code == 401
    assert b"refused: Signature missing for assertion" in response.content
    assert User.objects.count() == 0


def test_a_response_is_used_once_and_needs_our_relay_state(mail: Any, idp: SAMLIdP) -> None:
    as_user(idp, "nid-quinn", "quinn@idp.example")
    first, fields = saml_sign_in(Client())
    assert first.status_code == 302
    replay = Client().post("/.auth/saml/acs", fields)
    assert replay.status_code == 401 and b"already used" in replay.content
    forged = Client().post("/.auth/saml/acs", {**fields, "RelayState": "made-up"})
    assert forged.status_code == 401 and b"was not started here" in forged.content
    assert ExternalAccount.objects.count() == 1
