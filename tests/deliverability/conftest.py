"""Fixtures: a loopback DNS server per test, signing keys made once, sites with DKIM on; a site
sending with VERP envelope senders and the inbound bounce listener."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sitemail.deliverability import dkim
from sitemail.deliverability.inbound import Listener
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.typed import DKIMConfig, SiteSettings
from tests.deliverability.bounces import BOUNCE_DOMAIN
from tests.dnsserver import TestDNSServer
from tests.monitors.conftest import make_repo, own_data_dir  # noqa: F401  (fixtures)
from tests.outbox.conftest import configure_site  # noqa: F401  (a fixture)
from tests.smtpserver import ServerFactory, TestSMTPServer

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


# --- bounces, suppression, unsubscribe (helpers in tests/deliverability/bounces.py) ----------

Configure = Callable[..., SiteSettings]


@pytest.fixture
def server(smtp_server: ServerFactory, configure_site: Configure) -> TestSMTPServer:  # noqa: F811
    """A real SMTP server the site sends through, with email.bounces (VERP) on."""
    srv = smtp_server(auth=())
    configure_site(srv.site_config(), **{"email.bounces": {"domain": BOUNCE_DOMAIN}})
    return srv


@pytest.fixture
def listener() -> Iterator[Listener]:
    """The inbound listener on a free loopback port (`.port`)."""
    ctl = Listener("127.0.0.1", 0)
    ctl.start()
    yield ctl
    ctl.stop()
