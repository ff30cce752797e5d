"""Shared fixtures: real in-process SMTP servers (see tests/smtpserver.py for the API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtpserver import ServerFactory, SilentServer, TestCA, server_factory, trusting


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
