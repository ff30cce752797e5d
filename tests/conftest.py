"""Shared fixtures: real in-process SMTP servers (see tests/smtpserver.py for the API)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dnsserver import TestDNSServer
from tests.smtpserver import ServerFactory, SilentServer, TestCA, server_factory, trusting


def pytest_sessionstart(session: pytest.Session) -> None:
    """With SITEMAIL_TEST_POSTGRES=1 the suite must run on PostgreSQL: fail loudly, never skip."""
    if os.environ.get("SITEMAIL_TEST_POSTGRES") != "1":
        return
    from django.conf import settings

    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith(".postgresql"):
        pytest.exit("SITEMAIL_TEST_POSTGRES=1 but DATABASE_URL is not a postgres:// URL", 3)
    import psycopg

    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname=db["NAME"],
            connect_timeout=5,
        ).close()
    except psycopg.Error as exc:
        pytest.exit(f"SITEMAIL_TEST_POSTGRES=1 but PostgreSQL is not reachable: {exc}", 3)


@pytest.fixture(autouse=True)
def fresh_siteconfig(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SITE_CONFIG_FILE from the environment, and no settings cached across tests (a rolled
    back test can reuse a version id)."""
    from sitemail.siteconfig import service

    monkeypatch.delenv("SITE_CONFIG_FILE", raising=False)
    service.clear_cache()
    yield
    service.clear_cache()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """PostgreSQL: end the sessions other threads left open (asgiref's executor threads, ORM
    use from a worker's thread) before pytest-django drops the test database, which it cannot
    do while anyone is connected."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


@pytest.fixture(scope="session")
def smtp_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """Session CAs: `.ca` (trusted via trust_test_ca), `.rogue` (never trusted), `.ca_path` PEM."""
    return TestCA(Path(tmp_path_factory.mktemp("smtp-ca")))


@pytest.fixture
def trust_test_ca(smtp_ca: TestCA) -> Iterator[str]:
    """SSL_CERT_FILE points at the test CA for this test (also for child processes)."""
    with trusting(smtp_ca.ca_path):
        yield str(smtp_ca.ca_path)


@pytest.fixture
def smtp_server(smtp_ca: TestCA) -> Iterator[ServerFactory]:
    """Factory: smtp_server(tls="none"|"starttls"|"implicit", auth=(...), users={...}, ...)."""
    with server_factory(smtp_ca) as make:
        yield make


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A TCP listener that accepts and never answers."""
    server = SilentServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def loopback_dns() -> Iterator[TestDNSServer]:
    """Sender authentication lookups (the test email runs them) go to an empty DNS server on
    loopback, never to the machine's resolvers; tests that need records add them here or start
    their own server and set email.dns.nameservers."""
    from sitemail.deliverability.dnscheck import NAMESERVERS_ENV

    server = TestDNSServer()
    saved = os.environ.get(NAMESERVERS_ENV)
    os.environ[NAMESERVERS_ENV] = server.nameserver
    try:
        yield server
    finally:
        if saved is None:
            os.environ.pop(NAMESERVERS_ENV, None)
        else:
            os.environ[NAMESERVERS_ENV] = saved
        server.stop()
