"""Acceptance, as a new user would: `sitemail serve`, `sitemail repos add`, a monitor, a commit."""

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

from tests.monitors.conftest import GitRepo, text_of

SITEMAIL = str(Path(sys.executable).with_name("sitemail"))


@dataclass
class Instance:
    """A `sitemail serve` process with its own data dir, driven over HTTP and the CLI."""

    url: str
    env: dict[str, str]
    token: str = ""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [SITEMAIL, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        r = httpx.post(
            f"{self.url}/.api/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"token {self.token}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def set_config(self, doc: dict[str, Any]) -> Any:
        current = self.gql("{ site { configuration { id } } }")["data"]["site"]["configuration"]
        return self.gql(
            "mutation($id: Int!, $in: String!) "
            "{ updateSiteConfiguration(lastID: $id, input: $in) }",
            {"id": current["id"], "in": json.dumps(doc)},
        )


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["SITEMAIL_DATA_DIR"] = str(tmp_path / "serve-data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
        inst.cli("users", "create", "monitor-owner", "--email", "owner@example.com", "--site-admin")
        inst.token = inst.cli("tokens", "create", "monitor-owner").stdout.strip().splitlines()[-1]
        yield inst
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


CREATE = """
mutation($ns: ID!) {
  createCodeMonitor(
    monitor: {namespace: $ns, description: "TODO watch", enabled: true},
    trigger: {query: "type:diff repo:. TODO"},
    actions: [{email: {enabled: true, priority: NORMAL, recipients: [$ns],
                       includeResults: true, header: ""}}]
  ) { id }
}
"""


def _runs(inst: Instance) -> int:
    out = inst.gql(
        "{ currentUser { monitors { nodes { trigger { events { id } } } } } }",
    )
    return len(out["data"]["currentUser"]["monitors"]["nodes"][0]["trigger"]["events"])


def test_commit_with_todo_emails_the_owner_once(
    instance: Instance,
    smtp_server: Any,
    make_repo: Any,
) -> None:
    server = smtp_server(auth=())
    doc = {
        "externalURL": "https://sg.example.com",
        "email.address": "noreply@example.com",
        "email.smtp": server.site_config(),
        "codeMonitors.interval": 1,
        "repos.fetchInterval": 1,
    }
    assert instance.set_config(doc) == {"data": {"updateSiteConfiguration": False}}
    src: GitRepo = make_repo("acme")
    added = instance.cli("repos", "add", str(src.path))
    assert "Added repository acme" in added.stdout

    me = instance.gql("{ currentUser { id } }")["data"]["currentUser"]["id"]
    created = instance.gql(CREATE, {"ns": me})
    assert "errors" not in created, created  # creating it records the current tips

    src.commit("Parse input", {"app.py": "def main():\n    # TODO: handle errors\n"})
    [mail] = server.wait_for(1, timeout=10)  # two intervals of fetch + run, plus delivery
    assert (
        str(mail.message["Subject"]) == "Sourcegraph code monitor TODO watch detected 1 new result"
    )
    assert mail.rcpt_tos == ["owner@example.com"]
    assert "app.py: +    # TODO: handle errors" in text_of(mail)

    # Two more trigger runs later, nothing new was sent.
    seen = _runs(instance)
    deadline = time.monotonic() + 10
    while _runs(instance) < seen + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _runs(instance) >= seen + 2
    assert len(server.messages) == 1

    out = instance.gql(
        """mutation($ns: ID!) { triggerTestEmailAction(namespace: $ns, description: "TODO watch",
             email: {enabled: true, priority: NORMAL, recipients: [$ns], header: ""})
           { alwaysNil } }""",
        {"ns": me},
    )
    assert "errors" not in out, out
    test_mail = server.wait_for(2, timeout=10)[-1]
    assert str(test_mail.message["Subject"]).startswith("Test: Sourcegraph code monitor TODO watch")
