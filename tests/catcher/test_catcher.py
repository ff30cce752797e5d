"""The built-in mail catcher: real SMTP in, rows and a page out; `serve --dev` wires it up."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import httpx
import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from sitemail.catcher import server
from sitemail.catcher.models import CaughtMail
from tests.process import free_port, run_cli, running_sitemail, sitemail_env

MESSAGE = (
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hello catcher\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain\r\n\r\nplain body\r\n"
    b"--XX\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--XX--\r\n"
)


@pytest.mark.django_db(transaction=True)
async def test_catcher_stores_what_it_receives_and_page_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    controller = server.start("127.0.0.1", port)
    try:
        _, reply = await aiosmtplib.send(
            MESSAGE,
            sender="a@example.com",
            recipients=["b@example.com"],
            hostname="127.0.0.1",
            port=port,
        )
    finally:
        controller.stop()
    caught = await sync_to_async(CaughtMail.objects.get)()
    assert reply == f"2.0.0 OK: caught as {caught.pk}"  # the email log shows it
    assert caught.subject == "Hello catcher" and caught.rcpt_tos == ["b@example.com"]
    assert caught.part("plain").strip() == "plain body"

    client = AsyncClient()
    assert (await client.get("/mailcatcher")).status_code == 302  # not dev mode, not signed in
    monkeypatch.setenv("SITEMAIL_DEV", "1")
    listing = (await client.get("/mailcatcher")).content.decode()
    assert "Hello catcher" in listing and "b@example.com" in listing
    detail = (await client.get(f"/mailcatcher/{caught.pk}")).content.decode()
    assert "plain body" in detail and "&lt;p&gt;html body&lt;/p&gt;" in detail  # srcdoc is escaped


def test_serve_dev_points_config_at_catcher_and_mail_arrives(tmp_path: Path) -> None:
    catcher_port = free_port()
    with (
        sitemail_env(tmp_path / "data") as env,
        running_sitemail(env, "--dev", "--catcher-port", str(catcher_port)) as url,
    ):
        result = run_cli(env, "send-test-email", "newcomer@example.com")
        assert result.stdout.strip() == (
            'Sent test email to "newcomer@example.com" successfully! Please check it was received.'
        )
        config = run_cli(env, "config", "get").stdout
        assert f'"port": {catcher_port}' in config and "mail catcher" in config
        page = httpx.get(f"{url}/mailcatcher", timeout=10).text
        assert "TEST: email sent from Sourcegraph" in page and "newcomer@example.com" in page
