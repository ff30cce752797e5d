"""Fixtures for the mail tests: typed site settings built in memory (no database needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sitemail.siteconfig.typed import EmailSettings, SiteSettings, SMTPConfig


def make_settings(**email: Any) -> SiteSettings:
    values: dict[str, Any] = {
        "address": "noreply@example.com",
        "sender_name": "Sourcegraph",
        "smtp": SMTPConfig(host="127.0.0.1", port=25),
    }
    values.update(email)
    return SiteSettings(
        version=1, external_url="https://sourcegraph.example.com", email=EmailSettings(**values)
    )


@pytest.fixture
def site() -> SiteSettings:
    return make_settings()


@pytest.fixture
def site_with() -> Callable[..., SiteSettings]:
    return make_settings
