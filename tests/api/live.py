"""A real HTTP endpoint for client tests: the ASGI app under uvicorn on loopback, in a thread.

Sourcegraph's clients (the web app, `src`) talk HTTP with `Authorization: token ...`; the
compatibility tests do the same, against the same database the test sees (transactional).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from sitemail.asgi import application
from tests.process import free_port


class LiveAPI:
    """POSTs GraphQL documents to /.api/graphql as a client would."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def __call__(self, document: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"token {token}"} if token else {}
        response = self.http.post(
            "/.api/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, document: str, token: str | None = None, **variables: Any) -> Any:
        """The result's data, asserting that there were no errors."""
        body = self(document, token, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def error(self, document: str, token: str | None = None, **variables: Any) -> str:
        body = self(document, token, **variables)
        assert body.get("errors"), body
        return str(body["errors"][0]["message"])


@contextmanager
def serving() -> Iterator[LiveAPI]:
    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    api = LiveAPI(f"http://127.0.0.1:{port}")
    try:
        yield api
    finally:
        api.http.close()
        server.should_exit = True
        thread.join(timeout=20)
