"""Audit finding 7, through GraphQL: "REDACTED" restores a secret only where it stays redacted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts import tokens
from sitemail.accounts.users import create_user

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cr3t-relay-key"
GET = "{ site { configuration { id effectiveContents } } }"
UPDATE = "mutation($id: Int!, $in: String!) { updateSiteConfiguration(lastID: $id, input: $in) }"


def _gql(token: str, query: str, **variables: Any) -> Any:
    response = Client().post(
        "/.api/graphql",
        data=json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
        headers={"Authorization": f"token {token}"},
    )
    return json.loads(response.content)


def _save(token: str, headers: list[dict[str, Any]]) -> Any:
    doc = {
        "externalURL": "https://sg.example.com",
        "email.address": "noreply@example.com",
        "email.smtp": {
            "host": "127.0.0.1",
            "port": 2525,
            "authentication": "none",
            "additionalHeaders": headers,
        },
    }
    last = _gql(token, GET)["data"]["site"]["configuration"]["id"]
    return _gql(token, UPDATE, id=last, **{"in": json.dumps(doc)})


def test_redacted_is_not_restored_into_a_header_that_is_no_longer_sensitive() -> None:
    admin = create_user("admin", "admin@example.com", site_admin=True)
    token = tokens.create(admin, note="t")[1]
    assert "errors" not in _save(token, [{"key": "X-Api-Key", "value": SECRET, "sensitive": True}])
    shown = _gql(token, GET)["data"]["site"]["configuration"]["effectiveContents"]
    assert SECRET not in shown and "REDACTED" in shown

    refused = _save(token, [{"key": "x-api-key", "value": "REDACTED"}])
    assert 'keep "sensitive": true' in refused["errors"][0]["message"]
    assert SECRET not in json.dumps(_gql(token, GET))
    # Kept sensitive, REDACTED keeps the stored value (and it stays hidden).
    assert "errors" not in _save(
        token, [{"key": "X-API-KEY", "value": "REDACTED", "sensitive": True}]
    )
    assert SECRET not in json.dumps(_gql(token, GET))
