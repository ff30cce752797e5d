"""Audit finding 4: a monitor mails its owner or members of the owner's organizations only, and
its logs name users, not their addresses."""

from __future__ import annotations

from typing import Any

import pytest

from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.api.users import node_id
from sitemail.monitors import repos, runner
from sitemail.monitors.models import ActionRun, CodeMonitor
from sitemail.orgs import service as orgs
from tests.monitors.conftest import GitRepo, deliver
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

TEST_EMAIL = """mutation($ns: ID!, $to: [ID!]!) { triggerTestEmailAction(namespace: $ns,
  description: "Spam", email: {enabled: true, priority: NORMAL, recipients: $to, header: "hi"})
  { alwaysNil } }"""
CREATE = """mutation($ns: ID!, $to: [ID!]!) { createCodeMonitor(
  monitor: {namespace: $ns, description: "Spam", enabled: true},
  trigger: {query: "type:diff TODO"},
  actions: [{email: {enabled: true, priority: NORMAL, recipients: $to, header: ""}}]) { id } }"""


def test_other_users_are_refused_as_recipients(
    api_as: Any, smtp: TestSMTPServer, alice: User
) -> None:
    victim = create_user("victim", "victim@example.com")
    api = api_as(alice)
    me, them = node_id("User", alice.pk), node_id("User", victim.pk)
    for mutation in (TEST_EMAIL, CREATE):
        out = api(mutation, ns=me, to=[me, them])
        assert out.get("errors"), out
        assert "recipients must be the monitor's owner" in out["errors"][0]["message"]
    assert not CodeMonitor.objects.exists()
    deliver()
    assert smtp.messages == []

    # Once both are members of one organization, the victim may be a recipient.
    team = orgs.create(alice, "team")
    orgs.add_member(team, victim)
    assert api(TEST_EMAIL, ns=me, to=[me, them]).get("errors") is None
    deliver()
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(2)) == [
        "alice@example.com",
        "victim@example.com",
    ]


def test_logs_name_users_not_addresses_and_leavers_are_skipped(
    api_as: Any, smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    mate = create_user("mate", "mate-private@example.com")
    team = orgs.create(alice, "team")
    orgs.add_member(team, mate)
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    api = api_as(alice)
    out = api(
        CREATE, ns=node_id("User", alice.pk), to=[node_id("User", u.pk) for u in (alice, mate)]
    )
    assert out.get("errors") is None, out
    monitor = CodeMonitor.objects.get()
    src.commit("TODO", {"t.txt": "TODO\n"})
    for repo in repos.Repository.objects.all():
        repos.fetch(repo)
    run = runner.run_monitor(monitor)
    [log] = ActionRun.objects.filter(trigger_run=run)
    assert "enqueued email to alice" in log.message and "enqueued email to mate" in log.message
    assert "@" not in log.message

    team.members.filter(user=mate).delete()  # mate leaves the organization
    src.commit("TODO 2", {"u.txt": "TODO\n"})
    for repo in repos.Repository.objects.all():
        repos.fetch(repo)
    run = runner.run_monitor(CodeMonitor.objects.get(pk=monitor.pk))
    [log] = ActionRun.objects.filter(trigger_run=run)
    assert "skipped mate: no longer allowed" in log.message
