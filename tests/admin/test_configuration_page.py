"""/site-admin/configuration: SMTP form, JSONC editor saves, stale saves, test email transcript."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig
from tests.admin.conftest import AdminClient, set_document

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory

SECRET = "s3cret-Pa55"


def page_text(response: object) -> str:
    return html.unescape(response.content.decode())  # type: ignore[attr-defined]


def smtp_form(port: int, **overrides: str) -> dict[str, str]:
    form = {
        "action": "smtp",
        "address": "noreply@example.com",
        "sender_name": "Acme Code",
        "host": "127.0.0.1",
        "port": str(port),
        "tls": "starttls",
        "authentication": "PLAIN",
        "username": "user",
        "password": SECRET,
    }
    form.update(overrides)
    return form


def test_pages_need_a_signed_in_site_admin(client: object, alice: AdminClient) -> None:
    from django.test import Client

    anonymous = Client().get("/site-admin/email-log")
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/sign-in?next=/site-admin/email-log"
    for url in (
        "/site-admin/configuration",
        "/site-admin/email-log",
        "/site-admin/users",
        "/site-admin/email-templates",
    ):
        response = alice.get(url)
        assert response.status_code == 403 and b"Site admins only" in response.content
    assert alice.post("/site-admin/configuration", smtp_form(25)).status_code == 403


def test_smtp_form_configures_email_without_json_and_test_email_shows_transcript(
    admin: AdminClient, smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", users={"user": SECRET})
    page = admin.get("/site-admin/configuration")
    assert page.status_code == 200
    # Email is disabled on a new site: the banner links to the form.
    assert "Email is disabled: email.smtp is not configured" in page_text(page)
    assert 'href="/site-admin/configuration#smtp"' in page_text(page)
    for preset in (
        "Amazon SES",
        "Google Workspace SMTP relay",
        "SendGrid",
        "Mandrill",
        "Office 365",
    ):
        assert preset in page_text(page)

    saved = admin.post("/site-admin/configuration", smtp_form(server.port))
    assert saved.status_code == 302
    smtp = siteconfig.get_settings().email.smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.tls) == (
        "127.0.0.1",
        server.port,
        "starttls",
    )
    assert smtp.password == SECRET
    page = page_text(admin.get("/site-admin/configuration"))
    assert "Email is disabled: email.smtp" not in page
    assert SECRET not in page and '"password": "REDACTED"' in page

    # Saving the form again with the password left empty keeps the stored one.
    assert (
        admin.post(
            "/site-admin/configuration", smtp_form(server.port, password="", username="REDACTED")
        ).status_code
        == 302
    )
    assert siteconfig.get_settings().email.smtp.password == SECRET  # type: ignore[union-attr]

    response = admin.post("/site-admin/configuration/test-email", {"to": "dest@example.com"})
    text = page_text(response)
    assert response.status_code == 200
    assert (
        'Sent test email to "dest@example.com" successfully! Please check it was received.' in text
    )
    [received] = server.wait_for(1)
    assert received.rcpt_tos == ["dest@example.com"] and received.auth_mechanism == "PLAIN"
    transcript = text[text.index('id="transcript"') :]
    steps = re.findall(r'data-step="(\w+)"', transcript)
    assert steps[0] == "connect" and steps[-4:] == ["mail", "rcpt", "data", "quit"]
    assert {"ehlo", "starttls", "tls", "auth"} <= set(steps)
    assert f"127.0.0.1:{server.port}" in transcript  # the resolved address
    assert "TLSv1." in transcript and "not_after" in transcript and "issuer" in transcript
    assert "STARTTLS" in transcript and "235" in transcript and "250" in transcript
    assert SECRET not in text
    [row] = OutboxMessage.objects.filter(kind="test_email")
    assert row.status == Status.SENT


def test_wrong_password_shows_535_and_a_hint_under_the_auth_step(
    admin: AdminClient, smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", users={"user": SECRET})
    admin.post("/site-admin/configuration", smtp_form(server.port, password="wrong"))
    text = page_text(admin.post("/site-admin/configuration/test-email", {"to": "d@example.com"}))
    assert "Failed to send test email: mail: auth: 535" in text
    failing = re.search(r'<li class="bad" data-step="auth">(.*?)</li>', text, re.S)
    assert failing is not None
    assert "How to fix:" in failing[1] and "password" in failing[1].lower()
    assert OutboxMessage.objects.get(kind="test_email").status == Status.FAILED


def test_smtp_form_problems_are_shown_and_nothing_saved(admin: AdminClient) -> None:
    before = siteconfig.current().id
    response = admin.post("/site-admin/configuration", smtp_form(0, host=""))
    assert response.status_code == 400
    text = page_text(response)
    # Each problem beside the control that caused it.
    host = re.search(r'<div data-field="host" class="invalid">(.*?)</div>\n', text, re.S)
    port = re.search(r'<div data-field="port" class="invalid">(.*?)</div>\n', text, re.S)
    assert host is not None and "required; pick a provider" in host[1]
    assert port is not None and "between 1 and 65535" in port[1]
    assert siteconfig.current().id == before


def test_editor_saves_keeps_comments_and_lists_problems_by_path(admin: AdminClient) -> None:
    page = page_text(admin.get("/site-admin/configuration"))
    assert "/vendor/codemirror/lib/codemirror.js" in page
    assert admin.get("/vendor/codemirror/lib/codemirror.js").status_code == 200
    assert admin.get("/vendor/codemirror/package.json").status_code == 404
    for asset in ("/site-admin/static/admin.js", "/site-admin/static/admin.css"):
        assert admin.get(asset).status_code == 200
    live = admin.post("/site-admin/configuration/validate", {"contents": '{"externalURL": 1}'})
    assert any(m.startswith("externalURL:") for m in live.json()["messages"])
    last_id = siteconfig.current().id
    text = '{\n  // our site\n  "externalURL": "https://sg.example.com",\n}\n'
    saved = admin.post(
        "/site-admin/configuration", {"action": "config", "last_id": last_id, "contents": text}
    )
    assert saved.status_code == 302
    assert siteconfig.current().contents == text

    bad = admin.post(
        "/site-admin/configuration",
        {
            "action": "config",
            "last_id": siteconfig.current().id,
            "contents": '{"externalURL": "sg", "email.smtp": {"host": "h", "port": 70000}}',
        },
    )
    assert bad.status_code == 400
    shown = page_text(bad)
    assert "Not saved: fix these problems." in shown and "email.smtp.port:" in shown
    assert "externalURL:" in shown
    # The admin's text stays in the editor.
    assert '"port": 70000' in shown
    assert siteconfig.current().contents == text


def test_stale_save_explains_and_shows_the_diff(admin: AdminClient) -> None:
    set_document('{"externalURL": "https://one.example.com"}')
    mine = siteconfig.current().id
    set_document('{"externalURL": "https://theirs.example.com"}')  # someone else saves
    response = admin.post(
        "/site-admin/configuration",
        {
            "action": "config",
            "last_id": mine,
            "contents": '{"externalURL": "https://mine.example.com"}',
        },
    )
    assert response.status_code == 409
    text = page_text(response)
    assert "Someone else saved the site configuration first" in text
    diff = text[text.index('id="stale-diff"') :]
    assert '-{"externalURL": "https://theirs.example.com"}' in diff
    assert '+{"externalURL": "https://mine.example.com"}' in diff
    assert "theirs" in siteconfig.current().contents


def test_read_only_when_site_config_file_is_set(
    admin: AdminClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "site.jsonc"
    path.write_text('{"externalURL": "https://file.example.com"}')
    monkeypatch.setenv("SITE_CONFIG_FILE", str(path))
    siteconfig.clear_cache()
    page = page_text(admin.get("/site-admin/configuration"))
    assert "Read-only: SITE_CONFIG_FILE is set" in page and "file.example.com" in page
    refused = admin.post("/site-admin/configuration", smtp_form(2525))
    assert refused.status_code == 400 and "read-only because SITE_CONFIG_FILE" in page_text(refused)
    assert "smtp" not in path.read_text()
