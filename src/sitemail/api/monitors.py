"""GraphQL: code monitors (create, update, toggle, delete, logs, test email) and repositories."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from asgiref.sync import sync_to_async

from sitemail import paging
from sitemail.accounts.models import User as UserModel
from sitemail.api.common import EmptyResponse, Node, PageInfo, connection, decode_id, node_id, run
from sitemail.api.context import Info
from sitemail.api.users import Namespace, User
from sitemail.monitors import repos as repo_service
from sitemail.monitors import service
from sitemail.monitors.models import Action, ActionRun, CodeMonitor, Repository, TriggerRun
from sitemail.paging import Page


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
class MonitorSlackWebhookInput:
    enabled: bool
    url: str
    include_results: bool = False


@strawberry.input
class MonitorActionInput:
    email: MonitorEmailInput | None = None
    webhook: MonitorWebhookInput | None = None
    slack_webhook: MonitorSlackWebhookInput | None = None


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
class MonitorEditSlackWebhookInput:
    update: MonitorSlackWebhookInput
    id: strawberry.ID | None = None


@strawberry.input
class MonitorEditActionInput:
    email: MonitorEditEmailInput | None = None
    webhook: MonitorEditWebhookInput | None = None
    slack_webhook: MonitorEditSlackWebhookInput | None = None


# --- outputs --------------------------------------------------------------------------------


@strawberry.enum
class EventStatus(Enum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


@strawberry.type
class MonitorActionEvent(Node):
    id: strawberry.ID
    status: EventStatus
    message: str | None
    timestamp: datetime

    @classmethod
    def of(cls, r: ActionRun) -> MonitorActionEvent:
        return cls(
            id=node_id("MonitorActionEvent", r.pk),
            status=EventStatus(r.status),
            message=r.message or None,
            timestamp=r.created_at,
        )


@strawberry.type
class MonitorActionEventConnection:
    nodes: list[MonitorActionEvent]
    total_count: int
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[ActionRun]) -> MonitorActionEventConnection:
        return connection(cls, page, MonitorActionEvent.of)


@strawberry.type
class MonitorResult:
    repository: str
    commit: str
    author: str
    subject: str
    matched_lines: list[str]


@strawberry.type
class _ActionBase:
    id: strawberry.ID
    enabled: bool
    include_results: bool
    model: strawberry.Private[Action]
    # Within a trigger event: that event's runs of this action (already loaded), else None.
    runs: strawberry.Private[list[ActionRun] | None]

    @strawberry.field(description="This action's runs, newest first.")
    async def events(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> MonitorActionEventConnection:
        if self.runs is not None:
            return MonitorActionEventConnection.of(paging.in_memory(self.runs, first, after))
        page = await run(
            lambda: paging.page(self.model.runs.all(), first, after, newest_first=True)
        )
        return MonitorActionEventConnection.of(page)


@strawberry.type
class MonitorActionEmailRecipientsConnection:
    nodes: list[Namespace]
    total_count: int
    page_info: PageInfo


@strawberry.type
class MonitorEmail(_ActionBase, Node):
    priority: MonitorEmailPriority
    header: str

    @strawberry.field
    def recipients(
        self, first: int | None = 50, after: str | None = None
    ) -> MonitorActionEmailRecipientsConnection:
        users = sorted(self.model.recipients.all(), key=lambda u: u.pk)  # prefetched
        page = paging.in_memory(users, first, after, newest_first=False)
        return connection(MonitorActionEmailRecipientsConnection, page, User.of)


@strawberry.type
class MonitorWebhook(_ActionBase, Node):
    url: str


@strawberry.type
class MonitorSlackWebhook(_ActionBase, Node):
    url: str


@strawberry.type(
    description="A batch change action: part of Sourcegraph's union so its clients' documents "
    "validate; sitemail has no batch changes, so none is ever returned."
)
class MonitorBatchChange(Node):
    id: strawberry.ID
    enabled: bool

    @strawberry.field
    def events(
        self, first: int | None = 50, after: str | None = None
    ) -> MonitorActionEventConnection:
        return MonitorActionEventConnection(
            nodes=[], total_count=0, page_info=PageInfo(has_next_page=False, end_cursor=None)
        )


MonitorAction = Annotated[
    MonitorEmail | MonitorWebhook | MonitorSlackWebhook | MonitorBatchChange,
    strawberry.union("MonitorAction"),
]


@strawberry.type
class MonitorActionConnection:
    nodes: list[MonitorAction]
    total_count: int
    page_info: PageInfo


def _action(
    action: Action, runs: list[ActionRun] | None = None
) -> MonitorEmail | MonitorWebhook | MonitorSlackWebhook:
    common: dict[str, Any] = {
        "enabled": action.enabled,
        "include_results": action.include_results,
        "model": action,
        "runs": runs,
    }
    if action.type == Action.Type.EMAIL:
        return MonitorEmail(
            id=node_id("MonitorEmail", action.pk),
            priority=MonitorEmailPriority(action.priority),
            header=action.header,
            **common,
        )
    cls = MonitorWebhook if action.type == Action.Type.WEBHOOK else MonitorSlackWebhook
    return cls(id=node_id(cls.__name__, action.pk), url=action.url, **common)


def _actions(
    rows: list[Action], first: int | None, after: str | None, runs: list[ActionRun] | None
) -> MonitorActionConnection:
    page = paging.in_memory(rows, first, after, newest_first=False)
    return connection(
        MonitorActionConnection,
        page,
        lambda a: _action(a, None if runs is None else [r for r in runs if r.action_id == a.pk]),
    )


@strawberry.type
class MonitorTriggerEvent(Node):
    id: strawberry.ID
    status: EventStatus
    message: str | None
    timestamp: datetime
    query: str
    commits_scanned: int
    result_count: int
    results: list[MonitorResult]
    model: strawberry.Private[TriggerRun]
    monitor_actions: strawberry.Private[list[Action]]

    @strawberry.field(description="The monitor's actions, each with this event's runs of it.")
    def actions(self, first: int | None = 50, after: str | None = None) -> MonitorActionConnection:
        runs = list(self.model.action_runs.all())  # prefetched with the events page
        return _actions(self.monitor_actions, first, after, runs)


def _result(r: dict[str, Any]) -> MonitorResult:
    return MonitorResult(
        repository=r["repo"],
        commit=r["commit"],
        author=r["author"],
        subject=r["subject"],
        matched_lines=[f"{m['path']}: {m['line']}" for m in r.get("lines", [])],
    )


def _event(trigger_run: TriggerRun, monitor_actions: list[Action]) -> MonitorTriggerEvent:
    return MonitorTriggerEvent(
        id=node_id("MonitorTriggerEvent", trigger_run.pk),
        status=EventStatus(trigger_run.status),
        message=trigger_run.message or None,
        timestamp=trigger_run.finished_at,
        query=trigger_run.query,
        commits_scanned=trigger_run.commits_scanned,
        result_count=trigger_run.result_count,
        results=[_result(r) for r in trigger_run.results],
        model=trigger_run,
        monitor_actions=monitor_actions,
    )


@strawberry.type
class MonitorTriggerEventConnection:
    nodes: list[MonitorTriggerEvent]
    total_count: int
    page_info: PageInfo


@strawberry.type
class MonitorQuery(Node):
    id: strawberry.ID
    query: str
    monitor: strawberry.Private[CodeMonitor]

    @strawberry.field(description="Trigger runs, newest first.")
    async def events(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> MonitorTriggerEventConnection:
        loader = info.context.loader("monitor_events", _load_events)
        rows, acts = await loader.load((self.monitor, first, after))
        return connection(MonitorTriggerEventConnection, rows, lambda r: _event(r, acts))


EventsKey = tuple[CodeMonitor, int | None, str | None]
EventsPage = tuple[Page[TriggerRun], list[Action]]


async def _load_events(keys: list[EventsKey]) -> list[EventsPage]:
    """One batch for every MonitorQuery.events of a request (grouped by first/after)."""

    def load() -> list[EventsPage]:
        found: dict[tuple[int, int | None, str | None], EventsPage] = {}
        for first, after in {(f, a) for _, f, a in keys}:
            monitors = list({m.pk: m for m, f, a in keys if (f, a) == (first, after)}.values())
            for pk, page in service.events_pages(monitors, first, after).items():
                found[(pk, first, after)] = page
        return [found[(m.pk, f, a)] for m, f, a in keys]

    return await run(load)


MonitorTrigger = Annotated[MonitorQuery, strawberry.union("MonitorTrigger")]


@strawberry.type
class Monitor(Node):
    id: strawberry.ID
    description: str
    enabled: bool
    created_at: datetime
    created_by: User
    owner: Namespace
    trigger: MonitorTrigger
    model: strawberry.Private[CodeMonitor]

    @strawberry.field
    def actions(self, first: int | None = 50, after: str | None = None) -> MonitorActionConnection:
        return _actions(list(self.model.actions.all()), first, after, None)  # prefetched


@strawberry.type
class MonitorConnection:
    nodes: list[Monitor]
    total_count: int
    page_info: PageInfo


@strawberry.type
class Repo:
    id: strawberry.ID
    name: str
    url: str
    last_fetched_at: datetime | None
    last_error: str


# --- shaping --------------------------------------------------------------------------------


def shape(monitor: CodeMonitor) -> Monitor:
    """A monitor whose actions (with recipients) are loaded, so its fields query nothing more."""
    owner = User.of(monitor.owner)
    return Monitor(
        id=node_id("CodeMonitor", monitor.pk),
        description=monitor.description,
        enabled=monitor.enabled,
        created_at=monitor.created_at,
        created_by=owner,
        owner=owner,
        trigger=MonitorQuery(
            id=node_id("MonitorQuery", monitor.pk), query=monitor.query, monitor=monitor
        ),
        model=monitor,
    )


def _loaded(monitor: CodeMonitor) -> Monitor:
    return shape(service.with_actions(monitor))


def monitors_of(
    actor: UserModel | None, owner: UserModel, first: int | None, after: str | None
) -> MonitorConnection:
    page = service.page_for(actor, owner, first, after)
    return connection(MonitorConnection, page, shape)


async def user_monitors(
    info: Info, owner: UserModel, first: int | None, after: str | None
) -> MonitorConnection:
    """`User.monitors`: the user's own monitors (or any user's, for a site admin)."""
    actor = info.context.user
    return await run(lambda: monitors_of(actor, owner, first, after))


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
    kind: str, data: MonitorWebhookInput | MonitorSlackWebhookInput, id: int | None = None
) -> service.ActionSpec:
    return service.ActionSpec(
        type=kind, enabled=data.enabled, include_results=data.include_results, url=data.url, id=id
    )


# (input field, relay id kind, Action.Type): the one list both actions inputs are read by.
_ACTION_FIELDS = (
    ("email", "MonitorEmail", Action.Type.EMAIL),
    ("webhook", "MonitorWebhook", Action.Type.WEBHOOK),
    ("slack_webhook", "MonitorSlackWebhook", Action.Type.SLACK),
)


def _specs(
    actions: list[MonitorActionInput] | list[MonitorEditActionInput],
) -> list[service.ActionSpec]:
    """Each action's one set field as a spec; an edit input's `id` keeps the existing action."""
    specs: list[service.ActionSpec] = []
    for a in actions:
        given = [(f, kind, t) for f, kind, t in _ACTION_FIELDS if getattr(a, f) is not None]
        if len(given) != 1:
            raise service.MonitorError(
                "actions: each action sets exactly one of email, webhook, slackWebhook"
            )
        field, kind, type_ = given[0]
        data, pk = getattr(a, field), None
        if isinstance(a, MonitorEditActionInput):
            pk = decode_id(kind, data.id) if data.id else None
            data = data.update
        if type_ == Action.Type.EMAIL:
            specs.append(_email_spec(data, pk))
        else:
            specs.append(_webhook_spec(type_, data, pk))
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
            return _loaded(service.get_for(actor, _monitor_pk(id)))

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
            return _loaded(service.create(actor, owner, spec))

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
                actions=_specs(actions),
            )
            return _loaded(service.update(actor, _monitor_pk(monitor.id), spec))

        return await sync_to_async(go)()

    @strawberry.mutation
    async def toggle_code_monitor(self, info: Info, id: strawberry.ID, enabled: bool) -> Monitor:
        actor = info.context.require_user()
        return await sync_to_async(
            lambda: _loaded(service.toggle(actor, _monitor_pk(id), enabled))
        )()

    @strawberry.mutation
    async def delete_code_monitor(self, info: Info, id: strawberry.ID) -> EmptyResponse:
        actor = info.context.require_user()
        await sync_to_async(service.delete)(actor, _monitor_pk(id))
        return EmptyResponse()

    @strawberry.mutation(
        description="Run the monitor again soon over every commit (its owner or a site admin)."
    )
    async def reset_trigger_query_timestamps(self, info: Info, id: strawberry.ID) -> EmptyResponse:
        actor = info.context.require_user()
        pk = decode_id("MonitorQuery", id)
        await run(lambda: service.reset_timestamps(actor, pk))
        return EmptyResponse()

    @strawberry.mutation(
        description="POST a `Test: ` payload to a webhook now; errors if it fails."
    )
    async def trigger_test_webhook_action(
        self, info: Info, namespace: strawberry.ID, description: str, webhook: MonitorWebhookInput
    ) -> EmptyResponse:
        actor = info.context.require_user()
        spec = _webhook_spec(Action.Type.WEBHOOK, webhook)
        owner = decode_id("User", namespace)
        await run(lambda: service.send_test_webhook(actor, owner, description, spec))
        return EmptyResponse()

    @strawberry.mutation(description="POST a `Test: ` message to a Slack webhook now.")
    async def trigger_test_slack_webhook_action(
        self,
        info: Info,
        namespace: strawberry.ID,
        description: str,
        slack_webhook: MonitorSlackWebhookInput,
    ) -> EmptyResponse:
        actor = info.context.require_user()
        spec = _webhook_spec(Action.Type.SLACK, slack_webhook)
        owner = decode_id("User", namespace)
        await run(lambda: service.send_test_webhook(actor, owner, description, spec))
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
