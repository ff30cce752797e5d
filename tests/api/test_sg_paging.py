"""Pages of 10,000 users or monitor events cost the same few queries as pages of 10."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from strawberry.relay import to_base64

from sitemail.accounts import tokens
from sitemail.accounts.models import User, UserEmail
from sitemail.accounts.users import create_user
from sitemail.monitors import service
from sitemail.monitors.models import Action, ActionRun, CodeMonitor, TriggerRun
from sitemail.orgs import service as orgs
from sitemail.orgs.models import OrganizationMember
from tests.api import sourcegraph_ops as ops

# Ten thousand rows through strawberry take tens of seconds on a loaded machine.
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(600)]

MANY = 10_000


def _post(token: str, document: str, **variables: Any) -> tuple[Any, int]:
    """(data, queries run) for one request, through the whole Django stack."""
    with CaptureQueriesContext(connection) as queries:
        response = Client().post(
            "/.api/graphql",
            data=json.dumps({"query": document, "variables": variables}),
            content_type="application/json",
            headers={"Authorization": f"token {token}"},
        )
    body = json.loads(response.content)
    assert "errors" not in body, body["errors"]
    return body["data"], len(queries)


def _many_users(n: int) -> None:
    now = timezone.now()
    User.objects.bulk_create(
        User(username=f"user{i:05}", password="!", created_at=now) for i in range(n)
    )
    users = list(User.objects.filter(username__startswith="user"))
    UserEmail.objects.bulk_create(
        UserEmail(user=u, email=f"{u.username}@example.com", verified_at=now, is_primary=True)
        for u in users
    )
    org = orgs.create(users[0], "acme")
    OrganizationMember.objects.bulk_create(OrganizationMember(org=org, user=u) for u in users[1::2])


def test_users_page_query_count_does_not_grow_with_page_size() -> None:
    admin = create_user("root", "root@example.com", site_admin=True)
    token = tokens.create(admin)[1]
    _many_users(MANY)
    small, small_queries = _post(token, ops.WEB_USERS, first=10, query=None)
    large, large_queries = _post(token, ops.WEB_USERS, first=MANY, query=None)
    assert len(small["users"]["nodes"]) == 10 and len(large["users"]["nodes"]) == MANY
    assert large["users"]["totalCount"] == MANY + 1
    member = large["users"]["nodes"][2]
    assert member["organizations"] == {"nodes": [{"name": "acme"}]}
    assert member["emails"][0]["email"] == f"{member['username']}@example.com"
    assert large_queries == small_queries, (small_queries, large_queries)
    assert large_queries <= 10

    # `src users list` defaults to -first=1000.
    _, src_small_queries = _post(token, ops.SRC_USERS_LIST, first=10, query=None)
    src_large, src_large_queries = _post(token, ops.SRC_USERS_LIST, first=1000, query=None)
    assert len(src_large["users"]["nodes"]) == 1000
    assert src_large_queries == src_small_queries <= 10

    _, site_small = _post(token, ops.SRC_PRUNE_INACTIVE, limit=10, offset=0)
    site, site_large = _post(token, ops.SRC_PRUNE_INACTIVE, limit=MANY, offset=0)
    assert len(site["site"]["users"]["nodes"]) == MANY
    assert site_large == site_small


EVENTS = """
query($id: ID!, $first: Int) {
  node(id: $id) {
    ... on MonitorQuery {
      events(first: $first) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes {
          id status message timestamp resultCount query
          actions { nodes {
            ... on MonitorEmail { __typename id events { nodes { id status message timestamp } } }
            ... on MonitorWebhook { __typename id events { nodes { id status } } }
          } }
        }
      }
    }
  }
}"""


def test_monitor_events_page_query_count_does_not_grow_with_page_size() -> None:
    owner = create_user("alice", "alice@example.com")
    token = tokens.create(owner)[1]
    spec = service.MonitorSpec(
        description="TODOs",
        query="type:diff TODO",
        actions=[
            service.ActionSpec(type="email", recipients=[owner.pk]),
            service.ActionSpec(type="webhook", url="https://hooks.example.com/hook"),
        ],
    )
    monitor: CodeMonitor = service.create(owner, owner.pk, spec)
    now = datetime.now(UTC)
    TriggerRun.objects.bulk_create(
        TriggerRun(
            monitor=monitor,
            query=monitor.query,
            status="SUCCESS",
            started_at=now,
            finished_at=now,
        )
        for _ in range(MANY)
    )
    runs = list(TriggerRun.objects.filter(monitor=monitor))
    actions = list(Action.objects.filter(monitor=monitor))
    ActionRun.objects.bulk_create(
        ActionRun(action=a, trigger_run=r, status="SUCCESS", message="sent")
        for r in runs
        for a in actions
    )
    trigger = to_base64("MonitorQuery", monitor.pk)
    small, small_queries = _post(token, EVENTS, id=trigger, first=10)
    large, large_queries = _post(token, EVENTS, id=trigger, first=MANY)
    events = large["node"]["events"]
    assert events["totalCount"] == MANY and len(events["nodes"]) == MANY
    assert events["pageInfo"]["hasNextPage"] is False
    first = events["nodes"][0]["actions"]["nodes"]
    assert [len(a["events"]["nodes"]) for a in first] == [1, 1]
    assert small["node"]["events"]["pageInfo"]["hasNextPage"] is True
    assert large_queries == small_queries, (small_queries, large_queries)
    assert large_queries <= 12


def test_monitor_logs_page_query_count_does_not_grow_with_the_number_of_monitors() -> None:
    owner = create_user("bob", "bob@example.com")
    token = tokens.create(owner)[1]
    now = datetime.now(UTC)
    for i in range(40):
        spec = service.MonitorSpec(
            description=f"monitor {i}",
            query="type:diff TODO",
            actions=[service.ActionSpec(type="email", recipients=[owner.pk])],
        )
        monitor = service.create(owner, owner.pk, spec)
        action = monitor.actions.get()
        for _ in range(3):
            run = TriggerRun.objects.create(
                monitor=monitor,
                query=monitor.query,
                status="SUCCESS",
                started_at=now,
                finished_at=now,
            )
            ActionRun.objects.create(action=action, trigger_run=run, status="SUCCESS")

    def logs(first: int) -> tuple[Any, int]:
        return _post(
            token,
            ops.WEB_MONITOR_TRIGGER_EVENTS,
            first=first,
            after=None,
            triggerEventsFirst=2,
            triggerEventsAfter=None,
        )

    few, few_queries = logs(2)
    many, many_queries = logs(40)
    nodes = many["currentUser"]["monitors"]["nodes"]
    assert len(nodes) == 40 and len(few["currentUser"]["monitors"]["nodes"]) == 2
    events = nodes[-1]["trigger"]["events"]
    assert events["totalCount"] == 3 and len(events["nodes"]) == 2
    assert events["pageInfo"]["hasNextPage"] is True
    [email] = events["nodes"][0]["actions"]["nodes"]
    assert [e["status"] for e in email["events"]["nodes"]] == ["SUCCESS"]
    assert many_queries == few_queries, (few_queries, many_queries)
