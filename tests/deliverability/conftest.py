"""Fixtures: a loopback DNS server per test, signing keys made once, sites with DKIM on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sitemail.deliverability import dkim
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.typed import DKIMConfig, SiteSettings
from tests.dnsserver import TestDNSServer

FROM = "noreply@example.com"


@pytest.fixture
def dns_server() -> Iterator[TestDNSServer]:
    server = TestDNSServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return dkim.generate_key("rsa-sha256", 2048)


@pytest.fixture(scope="session")
def rsa_pem_2() -> str:
    return dkim.generate_key("rsa-sha256", 2048)


@pytest.fixture(scope="session")
def ed25519_pem() -> str:
    return dkim.generate_key("ed25519-sha256")


def publish(server: TestDNSServer, domain: str, selector: str, pem: str) -> None:
    """Publish the public key of `pem` at `selector`._domainkey.`domain`."""
    config = DKIMConfig(domain, selector, pem)
    server.add(dkim.record_name(config), "TXT", dkim.load_key(pem).txt_record())


def configure(**keys: Any) -> SiteSettings:
    """Save these top-level keys (plus externalURL and email.address) and return the settings."""
    values: dict[tuple[str, ...], Any] = {
        ("externalURL",): "https://sourcegraph.example.com",
        ("email.address",): FROM,
    }
    values.update({(k,): v for k, v in keys.items()})
    siteconfig.patch(values)
    siteconfig.clear_cache()
    return siteconfig.get_settings()


def dkim_doc(pem: str, selector: str = "s1", domain: str = "example.com") -> dict[str, str]:
    return {"domain": domain, "selector": selector, "privateKey": pem}
