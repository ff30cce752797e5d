"""Fixtures for the site configuration tests: no SITE_CONFIG_FILE and an empty settings cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitemail.siteconfig import service


@pytest.fixture(autouse=True)
def fresh_siteconfig(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SITE_CONFIG_FILE", raising=False)
    service.clear_cache()
    yield
    service.clear_cache()
