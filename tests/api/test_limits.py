"""Audit findings 6 and 11: what one GraphQL request may cost, and bad bodies answered 400.

Over HTTP with the Django test client: deep nesting, many aliases, a per-request time limit
(each a GraphQL error naming the limit), and malformed bodies (each a 400 with a message).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts import tokens
from sitemail.accounts.users import create_user

pytestmark = pytest.mark.django_db(transaction=True)

NESTED = "{ currentUser { " + "monitors { nodes { owner { " * 4 + "id" + " } } }" * 4 + " } }"


@pytest.fixture
def token() -> str:
    user = create_user("alice", "alice@example.com")
    return tokens.create(user, note="t")[1]


def _post(body: bytes | str, token: str | None = None) -> Any:
    headers = {"Authorization": f"token {token}"} if token else {}
    return Client().post(
        "/.api/graphql", data=body, content_type="application/json", headers=headers
    )


def _errors(response: Any) -> str:
    assert response.status_code == 200, response.content[:300]
    body = json.loads(response.content)
    assert body.get("errors"), body
    return " ".join(e["message"] for e in body["errors"])


def test_depth_aliases_and_tokens_are_limited(token: str) -> None:
    assert "exceeds maximum operation depth" in _errors(_post(json.dumps({"query": NESTED}), token))
    aliases = "{ " + " ".join(f"a{n}: currentUser {{ id }}" for n in range(150)) + " }"
    assert "aliases found" in _errors(_post(json.dumps({"query": aliases}), token))
    tokens_ = "{ currentUser { " + "id " * 12_000 + "} }"
    assert "more than 10000 tokens" in _errors(_post(json.dumps({"query": tokens_}), token))
    many = "{ " + " ".join(f"a{n}: currentUser {{ id }}" for n in range(50_000)) + " }"
    huge = _post(json.dumps({"query": many}), token)
    assert huge.status_code == 413 and b"larger than" in huge.content
    # A usual query and GraphiQL's introspection still run.
    ok = json.loads(_post(json.dumps({"query": "{ currentUser { username } }"}), token).content)
    assert ok == {"data": {"currentUser": {"username": "alice"}}}
    intro = (
        "{ __schema { types { name fields { type { ofType { ofType { ofType { ofType "
        "{ ofType { ofType { name } } } } } } } } } } }"
    )
    assert "errors" not in json.loads(_post(json.dumps({"query": intro})).content)


def test_a_request_stops_at_its_time_limit(token: str, settings: Any) -> None:
    settings.SITEMAIL_GRAPHQL_TIME_LIMIT = 0.000001
    query = "{ currentUser { monitors { totalCount } } }"  # runs in a thread: it waits
    message = _errors(_post(json.dumps({"query": query}), token))
    assert "ran longer than" in message and "stopped" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"query": "{ currentUser { id } }", "x": "\xff\xfe"}', b"not valid UTF-8"),
        (b"[1, 2, 3]", b"expected a JSON object"),
        (b'"just a string"', b"expected a JSON object"),
        (b"42", b"expected a JSON object"),
        (b"{not json", b"not valid JSON"),
        (
            b'{"query": "query($v: JSON) { currentUser { id } }", "variables": {"v": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            b"nested",
        ),
        (
            b'{"query": "{ currentUser { id } }", "variables": {"v": '
            + b"[" * 40
            + b"]" * 40
            + b"}}",
            b"nested more than",
        ),
    ],
    ids=["utf8", "array", "string", "number", "syntax", "deep-100000", "deep-40"],
)
def test_malformed_bodies_are_400_with_a_message(body: bytes, expected: bytes) -> None:
    response = _post(body)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert expected in response.content and b"Traceback" not in response.content


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[" + ",".join(["1"] * 150_000) + "]", "more than 5000 brackets"),
        ("[" * 20_000 + "]" * 20_000, "nested more than 20 levels"),
    ],
    ids=["400KB-flat", "deep"],
)
def test_a_huge_site_configuration_is_refused_before_parsing(value: str, expected: str) -> None:
    admin = create_user("root", "root@example.com", site_admin=True)
    token = tokens.create(admin, note="t")[1]
    last = json.loads(
        _post(json.dumps({"query": "{ site { configuration { id } } }"}), token).content
    )
    doc = '{"externalURL": "https://sg.example.com", "x": ' + value + "}"
    update = {
        "query": "mutation($id: Int!, $in: String!) "
        "{ updateSiteConfiguration(lastID: $id, input: $in) }",
        "variables": {"id": last["data"]["site"]["configuration"]["id"], "in": doc},
    }
    started = time.monotonic()
    message = _errors(_post(json.dumps(update), token))
    assert expected in message, message
    assert time.monotonic() - started < 5  # it took 79 s, holding the write lock
