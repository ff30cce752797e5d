"""The GraphiQL console is served with its assets from this server, not a CDN."""

from __future__ import annotations

import pytest
from django.test import AsyncClient


@pytest.mark.django_db
async def test_console_page_and_local_assets() -> None:
    client = AsyncClient()
    page = (await client.get("/api/console")).content.decode()
    assert "/.api/graphql" in page and "https://" not in page
    for asset in (
        "/vendor/graphiql/graphiql.min.js",
        "/vendor/graphiql/graphiql.min.css",
        "/vendor/react/umd/react.production.min.js",
        "/vendor/react-dom/umd/react-dom.production.min.js",
    ):
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert int(response["Content-Length"]) > 1000
    assert (await client.get("/vendor/graphiql/package.json")).status_code == 404


async def test_healthz() -> None:
    assert (await AsyncClient().get("/healthz")).status_code == 200
