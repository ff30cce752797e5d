"""GraphQL test helpers: users, tokens and a client that posts to /.api/graphql."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from strawberry.relay import to_base64

from sitemail.accounts import tokens
from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from tests.api.live import LiveAPI, serving

GraphQL = Callable[..., Any]
UPDATE = (
    "mutation($id: Int!, $input: String!) { updateSiteConfiguration(lastID: $id, input: $input) }"
)


def _make_user(username: str, *, site_admin: bool) -> str:
    user = create_user(
        username, f"{username}@example.com", password="correct horse battery", site_admin=site_admin
    )
    return tokens.create(user, note="test")[1]


@pytest.fixture
def admin_token(db: None) -> str:
    return _make_user("admin", site_admin=True)


@pytest.fixture
def user_token(db: None) -> str:
    return _make_user("alice", site_admin=False)


@pytest.fixture
def gql() -> GraphQL:
    """gql(query, variables=None, token=None) -> decoded JSON body (asserts HTTP 200)."""

    async def call(
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        **headers: str,
    ) -> Any:
        client = AsyncClient(enforce_csrf_checks=True)
        if token:
            headers["Authorization"] = f"token {token}"
        response = await client.post(
            "/.api/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 200, response.content
        return json.loads(response.content)

    return call


async def set_site_config(gql: GraphQL, token: str, document: dict[str, Any] | str) -> Any:
    """Read the current id and replace the document through the API."""
    current = await gql("{ site { configuration { id } } }", token=token)
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    return await gql(
        UPDATE,
        {"id": current["data"]["site"]["configuration"]["id"], "input": text},
        token=token,
    )


aget = sync_to_async


# --- Sourcegraph client compatibility: a live HTTP endpoint and signed-in actors ----------------


@dataclass(frozen=True)
class Actor:
    """A user with an access token, as `src` or the web app would act."""

    user: User
    token: str

    @property
    def id(self) -> str:
        return to_base64("User", self.user.pk)


def make_actor(username: str, *, site_admin: bool = False) -> Actor:
    user = create_user(username, f"{username}@example.com", site_admin=site_admin)
    return Actor(user=user, token=tokens.create(user, note="client")[1])


@pytest.fixture
def live(transactional_db: None) -> Iterator[LiveAPI]:
    """Sourcegraph's clients' view: HTTP on loopback, token auth, the test's database."""
    with serving() as api:
        yield api


@pytest.fixture
def sg_site(transactional_db: None) -> None:
    """externalURL and the builtin provider set, email not configured (tests add SMTP)."""
    from tests.accounts.conftest import configure

    configure(None)


@pytest.fixture
def sg_admin(transactional_db: None, sg_site: None) -> Actor:
    return make_actor("root", site_admin=True)


@pytest.fixture
def sg_user(transactional_db: None) -> Actor:
    return make_actor("alice")
