"""Site-admin test helpers: a signed-in admin browser session (Django test client) and sites."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.users import create_user
from sitemail.siteconfig import service as siteconfig

PASSWORD = "correct horse battery"


def sign_in(username: str) -> Client:
    """A client with a signed-in session (the sign-in page itself is tested by accounts)."""
    from sitemail.accounts.models import User

    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username=username))
    client.get("/site-admin/configuration")  # sets the CSRF cookie, as opening a page does
    return client


class AdminClient:
    """Posts forms with the CSRF token, as the page would."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if "sitemail_csrf" not in self.client.cookies:
            self.client.get("/sign-in")
        token = self.client.cookies["sitemail_csrf"].value
        return self.client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **kwargs)


@pytest.fixture
def admin(transactional_db: None) -> AdminClient:
    create_user("admin", "admin@example.com", password=PASSWORD, site_admin=True)
    return AdminClient(sign_in("admin"))


@pytest.fixture
def alice(transactional_db: None) -> AdminClient:
    create_user("alice", "alice@example.com", password=PASSWORD, site_admin=False)
    return AdminClient(sign_in("alice"))


def set_document(doc: dict[str, Any] | str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    siteconfig.update(siteconfig.current().id, text)


def site_doc(server: Any, **smtp: Any) -> dict[str, Any]:
    return {
        "externalURL": "https://sg.example.com",
        "email.address": "noreply@example.com",
        "email.smtp": server.site_config(**smtp),
    }
