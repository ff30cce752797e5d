"""Audit finding 1: external sign-in links to a local account only by an address verified by a
link mailed to it or by a site admin (never by the user's own word, as sign-up with email off)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.external.models import ExternalAccount
from sitemail.accounts.models import UserEmail
from tests.accounts.conftest import PASSWORD, configure, make_user, post_json
from tests.external_auth.conftest import external_sign_in, signed_in_as
from tests.external_auth.peers import OIDCProvider

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = "ceo@victim.example"


def test_external_sign_in_links_only_by_a_mailed_link_or_an_admin(
    smtp_server: Any, oidc: OIDCProvider
) -> None:
    """Sign-up with email off verifies by the user's word: that must never link an OIDC login."""
    configure(None)
    make_user("admin", site_admin=True)
    squat = post_json(
        Client(), "/-/sign-up", {"username": "squatter", "email": VICTIM, "password": PASSWORD}
    )
    assert squat.status_code == 200, squat.content
    assert UserEmail.objects.get(email=VICTIM).verified  # SPEC 4: email off -> verified
    configure(
        smtp_server(tls="none"),
        **{
            "auth.providers": [
                {"type": "builtin", "allowSignup": True},
                oidc.site_config(allowSignup=True),
            ]
        },
    )
    oidc.user = {"sub": "ceo-1", "email": VICTIM, "email_verified": True}
    client = Client()
    response = external_sign_in(client, "openidconnect")
    assert signed_in_as(client) is None, "the OIDC sign-in landed in the squatter's account"
    assert b"not verified by a link mailed to it" in response.content
    assert not ExternalAccount.objects.exists()

    # A site admin vouching for the address makes it linkable.
    row = UserEmail.objects.get(email=VICTIM)
    row.verified_by = "admin"
    row.save()
    client = Client()
    assert external_sign_in(client, "openidconnect").status_code == 302
    assert signed_in_as(client) == "squatter"
