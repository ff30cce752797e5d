"""GraphQL: repositories, monitor create/update/toggle/delete, logs, the test email action."""

from __future__ import annotations

from typing import Any

import pytest

from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.monitors import repos, runner
from sitemail.monitors.models import CodeMonitor, Repository
from tests.monitors.conftest import GitRepo, deliver, subjects, text_of
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = """
mutation($ns: ID!, $q: String!, $to: [ID!]!) {
  createCodeMonitor(
    monitor: {namespace: $ns, description: "New TODOs", enabled: true},
    trigger: {query: $q},
    actions: [{email: {enabled: true, priority: NORMAL, recipients: $to,
                       includeResults: true, header: ""}}]
  ) { id description enabled owner { ... on User { username } }
      trigger { ... on MonitorQuery { id query } }
      actions { totalCount nodes { ... on MonitorEmail { id priority
                                   recipients { nodes { ... on User { username } } } } } } }
}
"""
MONITORS = """
{ currentUser { monitors { totalCount nodes { id description enabled
    trigger { ... on MonitorQuery { query events { nodes {
      status resultCount commitsScanned results { repository matchedLines }
      actions { nodes { ... on MonitorEmail { events { nodes { status message } } } } } } } } }
    actions { nodes { ... on MonitorEmail { id events { nodes { status message } } }
                      ... on MonitorWebhook { id url } } } } } } }
"""


def _me(api: Any) -> str:
    return str(api("{ currentUser { id } }")["data"]["currentUser"]["id"])


def test_admin_adds_repositories_users_cannot(
    api_as: Any, admin: User, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    refused = api_as(alice)(
        "mutation($u: String!) { addRepository(url: $u) { name } }", u=str(src.path)
    )
    assert refused["errors"][0]["message"] == "must be site admin"
    as_admin = api_as(admin)
    added = as_admin(
        "mutation($u: String!) { addRepository(url: $u) { name url } }", u=str(src.path)
    )
    assert added["data"]["addRepository"] == {"name": "acme", "url": str(src.path)}
    again = as_admin("mutation($u: String!) { addRepository(url: $u) { name } }", u=str(src.path))
    assert "already exists" in again["errors"][0]["message"]
    missing = as_admin('mutation { addRepository(url: "/no/such/dir") { name } }')
    assert "neither an existing local path" in missing["errors"][0]["message"]
    assert as_admin("{ repositories { name } }")["data"]["repositories"] == [{"name": "acme"}]


def test_create_run_and_read_logs_through_graphql(
    api_as: Any, smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    api = api_as(alice)
    me = _me(api)

    bad = api(CREATE, ns=me, q="type:diff lang:go TODO", to=[me])
    assert bad["data"] is None
    assert "unknown filter 'lang'" in bad["errors"][0]["message"]
    assert "at column 11: 'lang:go'" in bad["errors"][0]["message"]

    created = api(CREATE, ns=me, q="type:diff repo:. TODO", to=[me])["data"]["createCodeMonitor"]
    assert created["owner"] == {"username": "alice"} and created["enabled"]
    assert created["actions"]["nodes"][0]["recipients"]["nodes"] == [{"username": "alice"}]

    src.commit("Add TODO", {"x.py": "x = 1  # TODO: tidy\n"})
    repos.fetch(Repository.objects.get())
    runner.run_monitor(CodeMonitor.objects.get())
    deliver()
    [mail] = smtp.wait_for(1)
    assert subjects([mail]) == ["Sourcegraph code monitor New TODOs detected 1 new result"]

    [node] = api(MONITORS)["data"]["currentUser"]["monitors"]["nodes"]
    [event] = node["trigger"]["events"]["nodes"]
    assert event["status"] == "SUCCESS" and event["resultCount"] == 1
    assert event["commitsScanned"] == 1
    assert event["results"] == [
        {"repository": "acme", "matchedLines": ["x.py: +x = 1  # TODO: tidy"]}
    ]
    [action_event] = event["actions"]["nodes"][0]["events"]["nodes"]
    assert action_event["status"] == "SUCCESS"
    assert "enqueued email to alice" in action_event["message"]


def test_update_toggle_delete_and_ownership(
    api_as: Any, smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    api = api_as(alice)
    me = _me(api)
    created = api(CREATE, ns=me, q="type:commit fix", to=[me])["data"]["createCodeMonitor"]
    email_id = created["actions"]["nodes"][0]["id"]

    update = """
    mutation($id: ID!, $t: ID!, $e: ID!, $to: [ID!]!) {
      updateCodeMonitor(
        monitor: {id: $id, update: {namespace: "", description: "Fixes", enabled: true}},
        trigger: {id: $t, update: {query: "type:commit author:bob fix"}},
        actions: [
          {email: {id: $e, update: {enabled: true, priority: CRITICAL, recipients: $to,
                                    header: "h"}}},
          {webhook: {update: {enabled: true, url: "https://hooks.example.com/hook"}}}
        ]) { description trigger { ... on MonitorQuery { query } }
             actions { nodes { ... on MonitorEmail { id priority }
                               ... on MonitorWebhook { url } } } }
    }"""
    out = api(update, id=created["id"], t=created["trigger"]["id"], e=email_id, to=[me])
    got = out["data"]["updateCodeMonitor"]
    assert got["description"] == "Fixes"
    assert got["trigger"]["query"] == "type:commit author:bob fix"
    assert got["actions"]["nodes"] == [
        {"id": email_id, "priority": "CRITICAL"},
        {"url": "https://hooks.example.com/hook"},
    ]

    two = api(
        """mutation($ns: ID!) { createCodeMonitor(
             monitor: {namespace: $ns, description: "d", enabled: true},
             trigger: {query: "fix"},
             actions: [{webhook: {enabled: true, url: "https://hooks.example.com/a"},
                        slackWebhook: {enabled: true, url: "https://hooks.example.com/b"}}]
           ) { id } }""",
        ns=me,
    )
    assert two["errors"][0]["message"] == (
        "actions: each action sets exactly one of email, webhook, slackWebhook"
    )

    bob = create_user("bob", "bob@example.com")
    as_bob = api_as(bob)
    stolen = as_bob(
        "mutation($id: ID!) { deleteCodeMonitor(id: $id) { alwaysNil } }", id=created["id"]
    )
    assert "not found" in stolen["errors"][0]["message"]
    assert as_bob(MONITORS)["data"]["currentUser"]["monitors"]["totalCount"] == 0

    toggled = api(
        "mutation($id: ID!) { toggleCodeMonitor(id: $id, enabled: false) { enabled } }",
        id=created["id"],
    )
    assert toggled["data"]["toggleCodeMonitor"] == {"enabled": False}
    api("mutation($id: ID!) { deleteCodeMonitor(id: $id) { alwaysNil } }", id=created["id"])
    assert api(MONITORS)["data"]["currentUser"]["monitors"]["totalCount"] == 0


def test_trigger_test_email_action_sends_a_test_email(
    api_as: Any, smtp: TestSMTPServer, alice: User
) -> None:
    api = api_as(alice)
    me = _me(api)
    out = api(
        """mutation($ns: ID!, $to: [ID!]!) { triggerTestEmailAction(namespace: $ns,
             description: "My monitor",
             email: {enabled: true, priority: CRITICAL, recipients: $to, header: "hello"})
           { alwaysNil } }""",
        ns=me,
        to=[me],
    )
    assert out == {"data": {"triggerTestEmailAction": {"alwaysNil": None}}}
    deliver()
    [mail] = smtp.wait_for(1)
    assert subjects([mail]) == [
        "Test: [Critical] Sourcegraph code monitor My monitor detected 1 new result"
    ]
    text = text_of(mail)
    assert "test notification" in text and "+TODO: this is a sample matched line" in text
