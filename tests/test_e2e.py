"""End to end, as a new admin would: `sitemail serve` on an empty data dir, CLI, GraphQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

SITEMAIL = str(Path(sys.executable).with_name("sitemail"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    url: str
    env: dict[str, str]
    token: str = ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [SITEMAIL, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(f"sitemail {' '.join(args)} failed: {result.stderr}")
        return result

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        headers = {"Authorization": f"token {token}"} if token else {}
        r = httpx.post(
            f"{self.url}/.api/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def set_config(self, doc: dict[str, Any]) -> Any:
        current = self.gql("{ site { configuration { id } } }", token=self.token)
        return self.gql(
            "mutation($id: Int!, $in: String!) "
            "{ updateSiteConfiguration(lastID: $id, input: $in) }",
            {"id": current["data"]["site"]["configuration"]["id"], "in": json.dumps(doc)},
            token=self.token,
        )

    def send_test(self, to: str) -> str:
        body = self.gql(
            "mutation($to: String!) { sendTestEmail(to: $to) }", {"to": to}, token=self.token
        )
        return str(body["data"]["sendTestEmail"])


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory, smtp_ca: Any) -> Iterator[Instance]:
    """One server for the module: starting one costs seconds (migrations, imports)."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["SITEMAIL_DATA_DIR"] = str(tmp_path_factory.mktemp("e2e") / "data")
    env["SSL_CERT_FILE"] = str(smtp_ca.ca_path)  # the server and CLI trust the test CA
    port = _free_port()
    proc = subprocess.Popen(
        [SITEMAIL, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    inst = Instance(url=f"http://127.0.0.1:{port}", env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{inst.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"sitemail serve did not become ready:\n{output}")
            time.sleep(0.1)
        inst.cli(
            "users",
            "create",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            "a long enough password",
            "--site-admin",
        )
        inst.token = (
            inst.cli("tokens", "create", "admin", "--note", "e2e").stdout.strip().splitlines()[-1]
        )
        yield inst
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_new_admin_configures_smtp_and_sends_test_emails(
    instance: Instance, smtp_server: Any
) -> None:
    anonymous = instance.gql('mutation { sendTestEmail(to: "x@example.com") }')
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
        assert instance.send_test(to) == ok.format(to)
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
    failed = instance.send_test("user9@example.com")
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
