"""Sourcegraph's web app on code monitoring: list, create, edit, toggle, test actions, logs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from strawberry.relay import to_base64

from sitemail.accounts.models import User
from sitemail.monitors import service
from sitemail.monitors.models import (
    Action,
    ActionRun,
    CodeMonitor,
    Repository,
    RepoState,
    TriggerRun,
)
from sitemail.siteconfig import service as siteconfig
from tests.accounts.conftest import configure, received, text_of
from tests.api import sourcegraph_ops as ops
from tests.api.conftest import Actor, make_actor
from tests.api.live import LiveAPI
from tests.monitors.test_webhooks import Hook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook(sg_site: None) -> Iterator[Hook]:
    """A loopback webhook receiver, allowed by codeMonitors.webhooks.allowedHosts."""
    siteconfig.patch({("codeMonitors.webhooks.allowedHosts",): ["127.0.0.1"]})
    siteconfig.clear_cache()
    h = Hook()
    yield h
    h.server.shutdown()


def _monitor(owner: User, description: str = "TODOs") -> CodeMonitor:
    spec = service.MonitorSpec(
        description=description,
        query="type:diff TODO",
        actions=[
            service.ActionSpec(type="email", recipients=[owner.pk]),
            service.ActionSpec(type="webhook", url="https://hooks.example.com/hook"),
        ],
    )
    return service.create(owner, owner.pk, spec)


def _run(monitor: CodeMonitor, status: str = "SUCCESS", message: str = "") -> TriggerRun:
    now = datetime.now(UTC)
    run = TriggerRun.objects.create(
        monitor=monitor,
        query=monitor.query,
        status=status,
        message=message,
        result_count=2,
        started_at=now,
        finished_at=now,
    )
    for action in monitor.actions.all():
        ActionRun.objects.create(action=action, trigger_run=run, status="SUCCESS", message="sent")
    return run


def _mid(monitor: CodeMonitor) -> str:
    return to_base64("CodeMonitor", monitor.pk)


EMAIL_ACTION = {
    "email": {
        "enabled": True,
        "priority": "NORMAL",
        "recipients": [],
        "header": "",
    }
}


def test_create_code_monitor(live: LiveAPI, sg_user: Actor) -> None:
    action = {"email": {**EMAIL_ACTION["email"], "recipients": [sg_user.id]}}
    got = live.data(
        ops.WEB_CREATE_CODE_MONITOR,
        sg_user.token,
        monitor={"namespace": sg_user.id, "description": "New TODOs", "enabled": True},
        trigger={"query": "type:diff TODO"},
        actions=[action],
    )
    assert got == {"createCodeMonitor": {"description": "New TODOs"}}
    assert CodeMonitor.objects.get().owner_id == sg_user.user.pk


def test_list_user_code_monitors_pages_with_cursors(live: LiveAPI, sg_user: Actor) -> None:
    first, second = _monitor(sg_user.user, "one"), _monitor(sg_user.user, "two")
    page = live.data(ops.WEB_LIST_USER_CODE_MONITORS, sg_user.token, id=sg_user.id, first=1)
    assert page["node"]["__typename"] == "User"
    monitors = page["node"]["monitors"]
    assert monitors["totalCount"] == 2 and monitors["pageInfo"]["hasNextPage"] is True
    [node] = monitors["nodes"]
    email = first.actions.get(type="email")
    assert node == {
        "id": _mid(first),
        "description": "one",
        "enabled": True,
        "trigger": {"id": to_base64("MonitorQuery", first.pk), "query": "type:diff TODO"},
        "actions": {
            "nodes": [
                {
                    "id": to_base64("MonitorEmail", email.pk),
                    "enabled": True,
                    "recipients": {"nodes": [{"id": sg_user.id}]},
                },
                {},  # the webhook: not selected by the fragment
            ]
        },
    }
    rest = live.data(
        ops.WEB_LIST_USER_CODE_MONITORS,
        sg_user.token,
        id=sg_user.id,
        first=1,
        after=monitors["pageInfo"]["endCursor"],
    )["node"]["monitors"]
    assert [n["id"] for n in rest["nodes"]] == [_mid(second)]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_list_user_code_monitors_of_another_user_is_empty(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    _monitor(sg_admin.user)
    other = live.data(ops.WEB_LIST_USER_CODE_MONITORS, sg_user.token, id=sg_admin.id, first=10)
    assert other["node"]["monitors"]["totalCount"] == 0
    admin = live.data(ops.WEB_LIST_USER_CODE_MONITORS, sg_admin.token, id=sg_admin.id, first=10)
    assert admin["node"]["monitors"]["totalCount"] == 1


def test_toggle_code_monitor(live: LiveAPI, sg_user: Actor) -> None:
    monitor = _monitor(sg_user.user)
    got = live.data(ops.WEB_TOGGLE_CODE_MONITOR, sg_user.token, id=_mid(monitor), enabled=False)
    assert got == {"toggleCodeMonitor": {"id": _mid(monitor), "enabled": False}}


def test_fetch_code_monitor_and_its_visibility(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    monitor = _monitor(sg_user.user)
    got = live.data(ops.WEB_FETCH_CODE_MONITOR, sg_user.token, id=_mid(monitor))["node"]
    assert got["owner"] == {"id": sg_user.id, "namespaceName": "alice"}
    assert got["trigger"] == {
        "id": to_base64("MonitorQuery", monitor.pk),
        "query": "type:diff TODO",
    }
    email = got["actions"]["nodes"][0]
    assert email["recipients"] == {"nodes": [{"id": sg_user.id, "url": "/users/alice"}]}
    # A site admin sees it; another user sees no such node.
    assert live.data(ops.WEB_FETCH_CODE_MONITOR, sg_admin.token, id=_mid(monitor))["node"]
    eve = make_actor("eve")
    assert live.data(ops.WEB_FETCH_CODE_MONITOR, eve.token, id=_mid(monitor)) == {"node": None}


def test_update_code_monitor(live: LiveAPI, sg_user: Actor, hook: Hook) -> None:
    monitor = _monitor(sg_user.user)
    email = monitor.actions.get(type="email")
    got = live.data(
        ops.WEB_UPDATE_CODE_MONITOR,
        sg_user.token,
        monitor={
            "id": _mid(monitor),
            "update": {"namespace": sg_user.id, "description": "Renamed", "enabled": True},
        },
        trigger={
            "id": to_base64("MonitorQuery", monitor.pk),
            "update": {"query": "type:diff FIXME"},
        },
        actions=[
            {
                "email": {
                    "id": to_base64("MonitorEmail", email.pk),
                    "update": {**EMAIL_ACTION["email"], "recipients": [sg_user.id]},
                }
            },
            {
                "slackWebhook": {
                    "update": {"enabled": True, "includeResults": True, "url": hook.url}
                }
            },
        ],
    )["updateCodeMonitor"]
    assert got["description"] == "Renamed" and got["trigger"]["query"] == "type:diff FIXME"
    assert got["actions"]["nodes"][0]["id"] == to_base64("MonitorEmail", email.pk)
    kinds = list(Action.objects.filter(monitor=monitor).values_list("type", flat=True))
    assert kinds == ["email", "slackWebhook"]


def test_delete_code_monitor(live: LiveAPI, sg_user: Actor) -> None:
    monitor = _monitor(sg_user.user)
    got = live.data(ops.WEB_DELETE_CODE_MONITOR, sg_user.token, id=_mid(monitor))
    assert got == {"deleteCodeMonitor": {"alwaysNil": None}}
    assert not CodeMonitor.objects.exists()


def test_reset_trigger_query_timestamps(live: LiveAPI, sg_user: Actor, tmp_path: Path) -> None:
    monitor = _monitor(sg_user.user)
    repo = Repository.objects.create(
        name="acme",
        url=str(tmp_path / "acme"),
        mirror_path=str(tmp_path / "acme.git"),
        next_fetch_at=datetime.now(UTC),
    )
    RepoState.objects.create(monitor=monitor, repository=repo, tips={"refs/heads/main": "abc"})
    trigger = to_base64("MonitorQuery", monitor.pk)
    got = live.data(ops.WEB_RESET_TRIGGER_QUERY_TIMESTAMPS, sg_user.token, id=trigger)
    assert got == {"resetTriggerQueryTimestamps": {"alwaysNil": None}}
    assert RepoState.objects.get().tips == {}  # the next run scans every commit again


def test_trigger_test_email_action(live: LiveAPI, sg_user: Actor, smtp_server: Any) -> None:
    mail = smtp_server(tls="none")
    configure(mail)
    got = live.data(
        ops.WEB_TRIGGER_TEST_EMAIL_ACTION,
        sg_user.token,
        namespace=sg_user.id,
        description="My monitor",
        email={**EMAIL_ACTION["email"], "recipients": [sg_user.id]},
    )
    assert got == {"triggerTestEmailAction": {"alwaysNil": None}}
    [msg] = received(mail, 1)
    assert msg["To"] == "alice@example.com" and "My monitor" in text_of(msg)


def test_send_test_webhook_and_slack_webhook(live: LiveAPI, sg_user: Actor, hook: Hook) -> None:
    got = live.data(
        ops.WEB_SEND_TEST_WEBHOOK,
        sg_user.token,
        namespace=sg_user.id,
        description="My monitor",
        webhook={"enabled": True, "url": f"{hook.url}/generic"},
    )
    assert got == {"triggerTestWebhookAction": {"alwaysNil": None}}
    got = live.data(
        ops.WEB_SEND_TEST_SLACK_WEBHOOK,
        sg_user.token,
        namespace=sg_user.id,
        description="My monitor",
        slackWebhook={"enabled": True, "includeResults": False, "url": f"{hook.url}/slack"},
    )
    assert got == {"triggerTestSlackWebhookAction": {"alwaysNil": None}}
    (generic_path, generic), (slack_path, slack) = hook.requests
    assert generic_path == "/generic" and generic["monitorDescription"] == "Test: My monitor"
    assert slack_path == "/slack" and "*Test: My monitor*" in slack["text"]
    hook.statuses.append(500)
    failed = live.error(
        ops.WEB_SEND_TEST_WEBHOOK,
        sg_user.token,
        namespace=sg_user.id,
        description="My monitor",
        webhook={"enabled": True, "url": f"{hook.url}/generic"},
    )
    assert failed == f"webhook: the test POST to {hook.url}/generic failed (HTTP 500)"


def test_monitor_trigger_events_logs_page(live: LiveAPI, sg_user: Actor) -> None:
    monitor = _monitor(sg_user.user)
    older = _run(monitor, "ERROR", "git fetch failed")
    newer = _run(monitor)
    got = live.data(
        ops.WEB_MONITOR_TRIGGER_EVENTS,
        sg_user.token,
        first=20,
        after=None,
        triggerEventsFirst=1,
        triggerEventsAfter=None,
    )
    [node] = got["currentUser"]["monitors"]["nodes"]
    events = node["trigger"]["events"]
    assert events["totalCount"] == 2 and events["pageInfo"]["hasNextPage"] is True
    [event] = events["nodes"]
    assert event["id"] == to_base64("MonitorTriggerEvent", newer.pk)
    assert event["status"] == "SUCCESS" and event["message"] is None and event["resultCount"] == 2
    assert [a["__typename"] for a in event["actions"]["nodes"]] == [
        "MonitorEmail",
        "MonitorWebhook",
    ]
    email_events = event["actions"]["nodes"][0]["events"]["nodes"]
    assert [e["status"] for e in email_events] == ["SUCCESS"] and email_events[0][
        "message"
    ] == "sent"
    rest = live.data(
        ops.WEB_MONITOR_TRIGGER_EVENTS,
        sg_user.token,
        first=20,
        after=None,
        triggerEventsFirst=1,
        triggerEventsAfter=events["pageInfo"]["endCursor"],
    )
    [old] = rest["currentUser"]["monitors"]["nodes"][0]["trigger"]["events"]["nodes"]
    assert old["id"] == to_base64("MonitorTriggerEvent", older.pk)
    assert old["status"] == "ERROR" and old["message"] == "git fetch failed"
