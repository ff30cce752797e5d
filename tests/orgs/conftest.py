"""Org test helpers: the accounts fixtures plus a site config with an invitation signing key."""

from __future__ import annotations

from typing import Any

import pytest

from sitemail.orgs.models import Organization
from sitemail.orgs.service import create
from tests.accounts.conftest import configure, fast_hashes, gql, make_user

__all__ = ["fast_hashes", "gql"]

SIGNING = {"signingKey": "dGVzdC1zaWduaW5nLWtleS10aGF0LWlzLWxvbmctZW5vdWdo", "expiryTime": 48}


@pytest.fixture
def mail(smtp_server: Any) -> Any:
    """A plain SMTP server that the site config points at, with invitations configured."""
    server = smtp_server(tls="none")
    configure(server, organizationInvitations=SIGNING)
    return server


def org_with_admin(name: str = "acme", display: str = "Acme Corp") -> tuple[Any, Organization]:
    admin = make_user("admin", site_admin=True)
    return admin, create(admin, name, display)
