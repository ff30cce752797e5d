"""Acceptance, as a new user would: `sitemail serve`, `sitemail repos add`, a monitor, a commit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.monitors.conftest import GitRepo, text_of
from tests.process import Instance, instance_with_admin


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    with instance_with_admin(tmp_path / "serve-data", "monitor-owner", "owner@example.com") as inst:
        yield inst


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
        "{ currentUser { monitors { nodes { trigger { ... on MonitorQuery {"
        " events { nodes { id } } } } } } } }",
    )
    return len(out["data"]["currentUser"]["monitors"]["nodes"][0]["trigger"]["events"]["nodes"])


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
