"""Audit finding 8: a delivered reset link's code is in no file of the SQLite database.

A real reset request over HTTP, delivered by the worker to a real SMTP server; then every byte
of the database file and its write-ahead log is searched for the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client

from tests.accounts.conftest import configure, link_in, make_user, post_json, received

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own files")
def test_reset_code_is_gone_from_the_database_files_after_delivery(smtp_server: Any) -> None:
    server = smtp_server(tls="none")
    configure(server)
    make_user("rose")
    response = post_json(Client(), "/-/reset-password-init", {"email": "rose@example.com"})
    assert response.status_code == 200, response.content
    [message] = received(server, 1)
    code = parse_qs(urlsplit(link_in(message, "/password-reset")).query)["code"][0]
    assert len(code) >= 32
    path = Path(connection.settings_dict["NAME"])
    for name in (path, Path(f"{path}-wal")):
        if name.exists():
            assert code.encode() not in name.read_bytes(), f"the reset code is still in {name}"
