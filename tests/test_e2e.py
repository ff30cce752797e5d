"""End to end, as a new admin would: `sitemail serve` on an empty data dir, CLI, GraphQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.process import Instance, instance_with_admin
from tests.smtpserver import trusting


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory, smtp_ca: Any) -> Iterator[Instance]:
    """One server for the module: starting one costs seconds (migrations, imports)."""
    data = tmp_path_factory.mktemp("e2e") / "data"
    with trusting(smtp_ca.ca_path), instance_with_admin(data, "admin", "admin@example.com") as inst:
        yield inst


def send_test(instance: Instance, to: str) -> str:
    body = instance.gql("mutation($to: String!) { sendTestEmail(to: $to) }", {"to": to})
    return str(body["data"]["sendTestEmail"])


def test_new_admin_configures_smtp_and_sends_test_emails(
    instance: Instance, smtp_server: Any
) -> None:
    anonymous = instance.gql('mutation { sendTestEmail(to: "x@example.com") }', token="")
    assert anonymous["data"] is None and anonymous["errors"]

    ok = 'Sent test email to "{}" successfully! Please check it was received.'
    starttls = smtp_server(tls="starttls", auth=("PLAIN", "LOGIN", "CRAM-MD5"))
    implicit = smtp_server(tls="implicit", auth=("PLAIN",))
    cases = [
        (starttls, "PLAIN", "starttls"),
        (starttls, "CRAM-MD5", "auto"),
        (starttls, "LOGIN", "auto"),
        (implicit, "PLAIN", "implicit"),
    ]
    for n, (server, mechanism, tls) in enumerate(cases):
        doc = {
            "externalURL": "https://sg.example.com",
            "email.address": "noreply@example.com",
            "email.senderName": "Acme Code",
            "email.smtp": server.site_config(
                authentication=mechanism, tls=tls, domain="helo.example.com"
            ),
        }
        assert instance.set_config(doc) == {"data": {"updateSiteConfiguration": False}}
        to = f"user{n}@example.com"
        assert send_test(instance, to) == ok.format(to)
        received = server.wait_for(len(server.messages) or 1)[-1]
        assert received.rcpt_tos == [to]
        assert (
            received.auth_mechanism == mechanism
            and received.tls
            and received.helo == "helo.example.com"
        )
        msg = received.message
        assert str(msg["From"]) == "Acme Code <noreply@example.com>"
        assert msg["Message-ID"] and msg["Date"]
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None

    doc["email.smtp"] = starttls.site_config(password="wrong", domain="helo.example.com")
    instance.set_config(doc)
    failed = send_test(instance, "user9@example.com")
    assert failed.startswith("Failed to send test email: mail: ") and "535" in failed

    contents = instance.gql(
        "{ site { configuration { effectiveContents } } }", token=instance.token
    )
    text = contents["data"]["site"]["configuration"]["effectiveContents"]
    assert '"REDACTED"' in text and '"wrong"' not in text

    config_get = instance.cli("config", "get")
    assert "REDACTED" in config_get.stdout and "wrong" not in config_get.stdout


def test_cli_errors_are_one_line(instance: Instance) -> None:
    result = instance.cli("tokens", "create", "nobody", check=False)
    assert result.returncode != 0
    assert result.stderr.strip() == "sitemail: error: user 'nobody' not found"
    assert "Traceback" not in result.stderr
