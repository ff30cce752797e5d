"""ASGI entry point for uvicorn."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemail.settings")
django_application = get_asgi_application()

_OK = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Django, except /healthz, answered here: Django runs each sync middleware step in the one
    thread its sync code shares, so a liveness probe would queue behind other requests' work."""
    if scope["type"] == "http" and scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": _OK})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await django_application(scope, receive, send)
