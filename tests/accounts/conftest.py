"""Accounts test helpers: site config with a real SMTP server, delivery, links in received mail."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client

from sitemail.accounts import tokens
from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.outbox.worker import Worker
from sitemail.siteconfig import service as siteconfig

EXTERNAL_URL = "https://sg.example.com"
HOST = "sg.example.com"
PASSWORD = "correct horse battery"


class FastArgon2(Argon2PasswordHasher):
    """Argon2 still, with test-sized cost: the hashing code path is the same, just cheaper."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1


@pytest.fixture(autouse=True)
def fast_hashes(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.accounts.conftest.FastArgon2"]


def configure(server: Any | None, **keys: Any) -> None:
    """Save the site config: externalURL, From, `email.smtp` of `server` (None: email disabled)."""
    values: dict[tuple[str, ...], Any] = {
        ("externalURL",): EXTERNAL_URL,
        ("email.address",): "noreply@example.com",
        ("auth.providers",): [{"type": "builtin", "allowSignup": True}],
    }
    if server is not None:
        values[("email.smtp",)] = server.site_config()
    for key, value in keys.items():
        values[(key,)] = value
    siteconfig.patch(values)
    siteconfig.clear_cache()


@pytest.fixture
def mail(smtp_server: Any) -> Any:
    """A plain SMTP server that the site config points at."""
    server = smtp_server(tls="none")
    configure(server)
    return server


def deliver() -> int:
    """Run the outbox worker until nothing is due; returns how many rows it processed."""

    async def drain() -> int:
        total = 0
        async with Worker(poll_interval=0.01) as worker:
            while n := await worker.run_until_idle():
                total += n
        return total

    return asyncio.run(drain())


def received(server: Any, n: int) -> list[EmailMessage]:
    """Deliver, then the first n messages the server received (exactly n so far)."""
    deliver()
    got = server.wait_for(n)
    assert len(got) == n, [str(m.message["Subject"]) for m in got]
    return [m.message for m in got]


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def link_in(msg: EmailMessage, path: str) -> str:
    """The path and query of the first `EXTERNAL_URL + path` link in the text part."""
    match = re.search(re.escape(EXTERNAL_URL + path) + r"\S*", text_of(msg))
    assert match, text_of(msg)
    parts = urlsplit(match.group(0))
    return f"{parts.path}?{parts.query}"


def make_user(username: str, *, site_admin: bool = False, verified: bool = True) -> User:
    return create_user(
        username,
        f"{username}@example.com",
        password=PASSWORD,
        site_admin=site_admin,
        verified=verified,
    )


def token_for(user: User) -> str:
    return tokens.create(user, note="test")[1]


GQL = Callable[..., Any]


@pytest.fixture
def gql() -> GQL:
    """gql(query, token=None, client=None, **variables) -> the decoded JSON body."""

    def call(
        query: str, token: str | None = None, client: Client | None = None, **variables: Any
    ) -> Any:
        headers = {"Authorization": f"token {token}"} if token else {}
        response = (client or Client()).post(
            "/.api/graphql",
            data=json.dumps({"query": query, "variables": variables}),
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 200, response.content
        return json.loads(response.content)

    return call


def error_of(body: Any) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["message"])


def post_json(client: Client, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data=json.dumps(data), content_type="application/json")
