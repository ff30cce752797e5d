"""OAuth 2.0 fixtures: a clock the test moves, a real token endpoint on loopback, and an SMTP
server that accepts only tokens that endpoint issued and that are valid on that clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sitemail.siteconfig.typed import OAuthConfig, SMTPConfig
from sitemail.smtp.oauth import config as oauth_config
from sitemail.smtp.oauth import store
from tests.api.conftest import admin_token, gql  # noqa: F401 (fixtures for the GraphQL tests)
from tests.oauthserver import Style, TokenEndpoint
from tests.smtpserver import ServerFactory, TestSMTPServer

MAILBOX = "mailbox@example.com"
SECRET = "s3cret-value"


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def fresh_token_source() -> Iterator[None]:
    """Each test starts with an empty process memo (the database is per test anyway)."""
    store._shared_source = None
    yield
    store._shared_source = None


EndpointFactory = Callable[..., TokenEndpoint]


@pytest.fixture
def token_endpoint() -> Iterator[EndpointFactory]:
    started: list[TokenEndpoint] = []

    def make(style: Style = "microsoft", **kwargs: Any) -> TokenEndpoint:
        endpoint = TokenEndpoint(style=style, **kwargs).start()
        started.append(endpoint)
        return endpoint

    yield make
    for endpoint in started:
        endpoint.stop()


def oauth_server(
    smtp_server: ServerFactory, endpoint: TokenEndpoint, mechanism: str = "XOAUTH2", **kw: Any
) -> TestSMTPServer:
    return smtp_server(auth=(mechanism,), oauth=endpoint.check, **kw)


def microsoft_doc(endpoint: TokenEndpoint, secret: str = SECRET) -> dict[str, Any]:
    """`email.smtp.oauth` for a Microsoft app (client credentials) at the test endpoint."""
    endpoint.add_client("app-1", SECRET)
    return {
        "provider": "microsoft",
        "tenantID": endpoint.tenant,
        "clientID": "app-1",
        "clientSecret": secret,
        "tokenURL": endpoint.token_url,
    }


def smtp_config(
    server: TestSMTPServer, oauth: dict[str, Any], mechanism: str = "XOAUTH2", **kw: Any
) -> SMTPConfig:
    typed: OAuthConfig | None = oauth_config.from_doc(oauth)
    assert typed is not None
    values: dict[str, Any] = {"username": MAILBOX, "password": None, "oauth": typed}
    values.update(kw)
    return server.config(authentication=mechanism, **values)
