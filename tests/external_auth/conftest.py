"""External-auth fixtures: real peers on 127.0.0.1, and a browser-like sign-in helper."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client

from tests.accounts.conftest import EXTERNAL_URL
from tests.accounts.conftest import fast_hashes as fast_hashes  # autouse fixtures, reused
from tests.accounts.conftest import gql as gql
from tests.accounts.conftest import mail as mail
from tests.external_auth.peers import GitHubStandIn, OIDCProvider, github_stand_in, oidc_provider
from tests.external_auth.saml_idp import SAMLIdP, saml_idp


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    # authlib's server refuses http:// URLs unless told; the test peers are plain-HTTP loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def oidc() -> Iterator[OIDCProvider]:
    with oidc_provider(EXTERNAL_URL + "/.auth/openidconnect/callback") as provider:
        yield provider


def button(client: Client, kind: str) -> str:
    """The href of the sign-in page's button for a provider of type `kind`."""
    page = client.get("/sign-in").content.decode()
    match = re.search(r'href="([^"]+)" data-provider="' + kind + '"', page)
    assert match, page
    return match.group(1).replace("&amp;", "&")


def external_sign_in(client: Client, kind: str, href: str | None = None) -> Any:
    """Click the provider's button and follow the redirects through the real provider, as a
    browser would; returns sitemail's response to the callback."""
    start = client.get(href or button(client, kind))
    assert start.status_code == 302, start.content
    at_provider = httpx.get(start["Location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == EXTERNAL_URL
    return client.get(f"{back.path}?{back.query}")


def signed_in_as(client: Client) -> str | None:
    from sitemail.accounts.models import User

    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_stand_in(EXTERNAL_URL + "/.auth/github/callback") as server:
        yield server


@pytest.fixture
def saml(tmp_path: Any) -> Iterator[SAMLIdP]:
    with saml_idp(tmp_path) as idp:
        yield idp


def saml_sign_in(
    client: Client, *, tamper: Callable[[str], str] | None = None
) -> tuple[Any, dict[str, str]]:
    """Click the SAML button, let the IdP answer, and post its form back as a browser would;
    returns sitemail's response and the form fields posted."""
    start = client.get(button(client, "saml"))
    assert start.status_code == 302, start.content
    form = httpx.get(start["Location"], follow_redirects=False)
    assert form.status_code == 200, form.text
    fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', form.text))
    action = html.unescape(re.search(r'action="([^"]+)"', form.text).group(1))  # type: ignore[union-attr]
    assert action == EXTERNAL_URL + "/.auth/saml/acs"
    fields = {k: html.unescape(v) for k, v in fields.items()}
    if tamper is not None:
        fields["SAMLResponse"] = tamper(fields["SAMLResponse"])
    return client.post("/.auth/saml/acs", fields), fields
