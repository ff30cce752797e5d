"""GraphQL: code monitors (create, update, toggle, delete, logs, test email) and repositories."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from asgiref.sync import sync_to_async

from sitemail.accounts.models import User as UserModel
from sitemail.api.accounts import EmptyResponse
from sitemail.api.context import Info
from sitemail.api.users import User, decode_id, node_id
from sitemail.monitors import repos as repo_service
from sitemail.monitors import service
from sitemail.monitors.access import may_manage
from sitemail.monitors.models import Action, ActionRun, CodeMonitor, Repository, TriggerRun


@strawberry.enum
class MonitorEmailPriority(Enum):
    NORMAL = "NORMAL"
    CRITICAL = "CRITICAL"


# --- inputs ---------------------------------------------------------------------------------


@strawberry.input
class MonitorInput:
    namespace: strawberry.ID
    description: str
    enabled: bool = True


@strawberry.input
class MonitorTriggerInput:
    query: str


@strawberry.input
class MonitorEmailInput:
    enabled: bool
    priority: MonitorEmailPriority
    recipients: list[strawberry.ID]
    header: str = ""
    include_results: bool = False


@strawberry.input
class MonitorWebhookInput:
    enabled: bool
    url: str
    include_results: bool = False


@strawberry.input
class MonitorActionInput:
    email: MonitorEmailInput | None = None
    webhook: MonitorWebhookInput | None = None
    slack_webhook: MonitorWebhookInput | None = None


@strawberry.input
class MonitorEditInput:
    id: strawberry.ID
    update: MonitorInput


@strawberry.input
class MonitorEditTriggerInput:
    id: strawberry.ID
    update: MonitorTriggerInput


@strawberry.input
class MonitorEditEmailInput:
    update: MonitorEmailInput
    id: strawberry.ID | None = None


@strawberry.input
class MonitorEditWebhookInput:
    update: MonitorWebhookInput
    id: strawberry.ID | None = None


@strawberry.input
class MonitorEditActionInput:
    email: MonitorEditEmailInput | None = None
    webhook: MonitorEditWebhookInput | None = None
    slack_webhook: MonitorEditWebhookInput | None = None


# --- outputs --------------------------------------------------------------------------------


@strawberry.type
class MonitorActionEvent:
    id: strawberry.ID
    status: str
    message: str
    timestamp: datetime


@strawberry.type
class MonitorResult:
    repository: str
    commit: str
    author: str
    subject: str
    matched_lines: list[str]


@strawberry.type
class MonitorTriggerEvent:
    id: strawberry.ID
    status: str
    message: str
    timestamp: datetime
    query: str
    commits_scanned: int
    result_count: int
    results: list[MonitorResult]
    actions: list[MonitorActionEvent]


@strawberry.type
class MonitorQuery:
    id: strawberry.ID
    query: str
    events: list[MonitorTriggerEvent]


@strawberry.type
class MonitorEmail:
    id: strawberry.ID
    enabled: bool
    priority: MonitorEmailPriority
    header: str
    include_results: bool
    recipients: list[User]
    events: list[MonitorActionEvent]


@strawberry.type
class MonitorWebhook:
    id: strawberry.ID
    enabled: bool
    url: str
    include_results: bool
    events: list[MonitorActionEvent]


@strawberry.type
class MonitorSlackWebhook:
    id: strawberry.ID
    enabled: bool
    url: str
    include_results: bool
    events: list[MonitorActionEvent]


MonitorAction = Annotated[
    MonitorEmail | MonitorWebhook | MonitorSlackWebhook, strawberry.union("MonitorAction")
]


@strawberry.type
class MonitorActionConnection:
    nodes: list[MonitorAction]
    total_count: int


@strawberry.type
class Monitor:
    id: strawberry.ID
    description: str
    enabled: bool
    created_at: datetime
    owner: User
    trigger: MonitorQuery
    actions: MonitorActionConnection


@strawberry.type
class MonitorConnection:
    nodes: list[Monitor]
    total_count: int


@strawberry.type
class Repo:
    id: strawberry.ID
    name: str
    url: str
    last_fetched_at: datetime | None
    last_error: str


# --- shaping --------------------------------------------------------------------------------

EVENTS = 20


def _action_events(action: Action) -> list[MonitorActionEvent]:
    return [
        MonitorActionEvent(
            id=node_id("MonitorActionEvent", r.pk),
            status=r.status,
            message=r.message,
            timestamp=r.created_at,
        )
        for r in action.runs.all()[:EVENTS]
    ]


def _action(action: Action) -> MonitorEmail | MonitorWebhook | MonitorSlackWebhook:
    events = _action_events(action)
    if action.type == Action.Type.EMAIL:
        return MonitorEmail(
            id=node_id("MonitorEmail", action.pk),
            enabled=action.enabled,
            priority=MonitorEmailPriority(action.priority),
            header=action.header,
            include_results=action.include_results,
            recipients=[User.of(u) for u in action.recipients.all()],
            events=events,
        )
    cls = MonitorWebhook if action.type == Action.Type.WEBHOOK else MonitorSlackWebhook
    return cls(
        id=node_id(cls.__name__, action.pk),
        enabled=action.enabled,
        url=action.url,
        include_results=action.include_results,
        events=events,
    )


def _result(r: dict[str, Any]) -> MonitorResult:
    return MonitorResult(
        repository=r["repo"],
        commit=r["commit"],
        author=r["author"],
        subject=r["subject"],
        matched_lines=[f"{m['path']}: {m['line']}" for m in r.get("lines", [])],
    )


def _event(run: TriggerRun) -> MonitorTriggerEvent:
    runs: list[ActionRun] = list(run.action_runs.all())
    return MonitorTriggerEvent(
        id=node_id("MonitorTriggerEvent", run.pk),
        status=run.status,
        message=run.message,
        timestamp=run.finished_at,
        query=run.query,
        commits_scanned=run.commits_scanned,
        result_count=run.result_count,
        results=[_result(r) for r in run.results],
        actions=[
            MonitorActionEvent(
                id=node_id("MonitorActionEvent", a.pk),
                status=a.status,
                message=a.message,
                timestamp=a.created_at,
            )
            for a in runs
        ],
    )


def shape(monitor: CodeMonitor) -> Monitor:
    actions = [_action(a) for a in monitor.actions.all()]
    return Monitor(
        id=node_id("CodeMonitor", monitor.pk),
        description=monitor.description,
        enabled=monitor.enabled,
        created_at=monitor.created_at,
        owner=User.of(monitor.owner),
        trigger=MonitorQuery(
            id=node_id("MonitorQuery", monitor.pk),
            query=monitor.query,
            events=[_event(r) for r in monitor.trigger_runs.all()[:EVENTS]],
        ),
        actions=MonitorActionConnection(nodes=actions, total_count=len(actions)),
    )


def monitors_of(actor: UserModel | None, owner: UserModel, first: int = 50) -> MonitorConnection:
    if not may_manage(actor, owner.pk):
        return MonitorConnection(nodes=[], total_count=0)
    rows = service.list_for(owner)
    return MonitorConnection(nodes=[shape(m) for m in rows[:first]], total_count=len(rows))


async def user_monitors(info: Info, owner: UserModel, first: int) -> MonitorConnection:
    """`User.monitors`: the user's own monitors (or any user's, for a site admin)."""
    return await sync_to_async(monitors_of)(info.context.user, owner, first)


# --- input parsing --------------------------------------------------------------------------


def _email_spec(data: MonitorEmailInput, id: int | None = None) -> service.ActionSpec:
    return service.ActionSpec(
        type=Action.Type.EMAIL,
        enabled=data.enabled,
        include_results=data.include_results,
        priority=data.priority.value,
        recipients=[decode_id("User", r) for r in data.recipients],
        header=data.header,
        id=id,
    )


def _webhook_spec(
    kind: str, data: MonitorWebhookInput, id: int | None = None
) -> service.ActionSpec:
    return service.ActionSpec(
        type=kind, enabled=data.enabled, include_results=data.include_results, url=data.url, id=id
    )


def _specs(actions: list[MonitorActionInput]) -> list[service.ActionSpec]:
    specs: list[service.ActionSpec] = []
    for a in actions:
        given = [x for x in (a.email, a.webhook, a.slack_webhook) if x is not None]
        if len(given) != 1:
            raise service.MonitorError(
                "actions: each action sets exactly one of email, webhook, slackWebhook"
            )
        if a.email is not None:
            specs.append(_email_spec(a.email))
        elif a.webhook is not None:
            specs.append(_webhook_spec(Action.Type.WEBHOOK, a.webhook))
        elif a.slack_webhook is not None:
            specs.append(_webhook_spec(Action.Type.SLACK, a.slack_webhook))
    return specs


def _edit_specs(actions: list[MonitorEditActionInput]) -> list[service.ActionSpec]:
    specs: list[service.ActionSpec] = []
    for a in actions:
        given = [x for x in (a.email, a.webhook, a.slack_webhook) if x is not None]
        if len(given) != 1:
            raise service.MonitorError(
                "actions: each action sets exactly one of email, webhook, slackWebhook"
            )
        if a.email is not None:
            pk = decode_id("MonitorEmail", a.email.id) if a.email.id else None
            specs.append(_email_spec(a.email.update, pk))
        elif a.webhook is not None:
            pk = decode_id("MonitorWebhook", a.webhook.id) if a.webhook.id else None
            specs.append(_webhook_spec(Action.Type.WEBHOOK, a.webhook.update, pk))
        elif a.slack_webhook is not None:
            pk = (
                decode_id("MonitorSlackWebhook", a.slack_webhook.id) if a.slack_webhook.id else None
            )
            specs.append(_webhook_spec(Action.Type.SLACK, a.slack_webhook.update, pk))
    return specs


def _monitor_pk(value: str) -> int:
    return decode_id("CodeMonitor", value)


# --- resolvers ------------------------------------------------------------------------------


def _repo(r: Repository) -> Repo:
    return Repo(
        id=node_id("Repository", r.pk),
        name=r.name,
        url=r.url,
        last_fetched_at=r.last_fetched_at,
        last_error=r.last_error,
    )


@strawberry.type
class MonitorsQuery:
    @strawberry.field(description="Mirrored repositories that code monitors search (site admins).")
    async def repositories(self, info: Info) -> list[Repo]:
        info.context.require_site_admin()
        rows = await sync_to_async(lambda: list(Repository.objects.all()))()
        return [_repo(r) for r in rows]

    @strawberry.field(description="A code monitor by id (its owner or a site admin).")
    async def code_monitor(self, info: Info, id: strawberry.ID) -> Monitor:
        actor = info.context.require_user()

        def go() -> Monitor:
            return shape(service.get_for(actor, _monitor_pk(id)))

        return await sync_to_async(go)()


@strawberry.type
class MonitorsMutation:
    @strawberry.mutation(description="Mirror a git repository (local path or clone URL).")
    async def add_repository(self, info: Info, url: str, name: str | None = None) -> Repo:
        info.context.require_site_admin()
        row = await sync_to_async(repo_service.add)(url, name)
        return _repo(row)

    @strawberry.mutation
    async def create_code_monitor(
        self,
        info: Info,
        monitor: MonitorInput,
        trigger: MonitorTriggerInput,
        actions: list[MonitorActionInput],
    ) -> Monitor:
        actor = info.context.require_user()

        def go() -> Monitor:
            spec = service.MonitorSpec(
                description=monitor.description,
                query=trigger.query,
                enabled=monitor.enabled,
                actions=_specs(actions),
            )
            owner = decode_id("User", monitor.namespace)
            return shape(service.create(actor, owner, spec))

        return await sync_to_async(go)()

    @strawberry.mutation
    async def update_code_monitor(
        self,
        info: Info,
        monitor: MonitorEditInput,
        trigger: MonitorEditTriggerInput,
        actions: list[MonitorEditActionInput],
    ) -> Monitor:
        actor = info.context.require_user()

        def go() -> Monitor:
            spec = service.MonitorSpec(
                description=monitor.update.description,
                query=trigger.update.query,
                enabled=monitor.update.enabled,
                actions=_edit_specs(actions),
            )
            return shape(service.update(actor, _monitor_pk(monitor.id), spec))

        return await sync_to_async(go)()

    @strawberry.mutation
    async def toggle_code_monitor(self, info: Info, id: strawberry.ID, enabled: bool) -> Monitor:
        actor = info.context.require_user()
        return await sync_to_async(lambda: shape(service.toggle(actor, _monitor_pk(id), enabled)))()

    @strawberry.mutation
    async def delete_code_monitor(self, info: Info, id: strawberry.ID) -> EmptyResponse:
        actor = info.context.require_user()
        await sync_to_async(service.delete)(actor, _monitor_pk(id))
        return EmptyResponse()

    @strawberry.mutation(description="Send a `Test: ` notification with one sample result.")
    async def trigger_test_email_action(
        self, info: Info, namespace: strawberry.ID, description: str, email: MonitorEmailInput
    ) -> EmptyResponse:
        actor = info.context.require_user()

        def go() -> None:
            service.send_test_email(
                actor, decode_id("User", namespace), description, _email_spec(email)
            )

        await sync_to_async(go)()
        return EmptyResponse()
