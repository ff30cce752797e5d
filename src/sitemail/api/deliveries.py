"""GraphQL: the email log (emailDeliveries) and retry/cancel of one message, for site admins."""

from __future__ import annotations

from datetime import datetime

import strawberry
from asgiref.sync import sync_to_async
from graphql import GraphQLError

from sitemail.admin import emaillog
from sitemail.api.common import PageInfo
from sitemail.api.context import Info
from sitemail.deliverability.events import events_of
from sitemail.deliverability.models import Event
from sitemail.outbox import log
from sitemail.outbox.metrics import ADMIN_RETRIES
from sitemail.outbox.models import OutboxMessage


@strawberry.type(description="What a receiving system reported after delivery.")
class DeliveryEvent:
    type: str = strawberry.field(description="delivered, deferred, bounced or complained")
    bounce: str | None = strawberry.field(description="hard or soft (bounced only)")
    recipient: str
    status: str | None = strawberry.field(description="RFC 3463 status code, e.g. 5.1.1")
    diagnostic: str | None = strawberry.field(description="the remote server's reply")
    remote_mta: str | None = strawberry.field(name="remoteMTA")
    source: str = strawberry.field(description="smtp, dsn, arf, bounce, or the provider")
    at: datetime


def _event(e: Event) -> DeliveryEvent:
    return DeliveryEvent(
        type=e.type,
        bounce=e.bounce or None,
        recipient=e.recipient,
        status=e.status or None,
        diagnostic=e.diagnostic or None,
        remote_mta=e.remote_mta or None,
        source=e.source,
        at=e.at,
    )


@strawberry.type
class EmailDelivery:
    id: strawberry.ID
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    message_id: str = strawberry.field(name="messageID")
    created_at: datetime
    last_attempt_at: datetime | None
    sent_at: datetime | None
    last_step: str | None
    last_code: int | None
    last_error: str | None
    sent_reply: str | None = strawberry.field(
        description="The server's reply to the end of the data when it accepted the message, "
        'e.g. "250 2.0.0 Ok: queued as 4F2A" (its queue id); null if not sent'
    )
    events: list[DeliveryEvent]


@strawberry.type
class EmailDeliveryConnection:
    nodes: list[EmailDelivery]
    page_info: PageInfo


def _node(row: OutboxMessage, events: list[Event] | None = None) -> EmailDelivery:
    if events is None:
        events = events_of([row.id]).get(row.id, [])
    return EmailDelivery(
        id=strawberry.ID(str(row.id)),
        kind=row.kind,
        recipient=row.recipient,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        message_id=row.message_id,
        created_at=row.created_at,
        last_attempt_at=row.last_attempt_at,
        sent_at=row.sent_at,
        last_step=row.last_step or None,
        last_code=row.last_code,
        last_error=row.last_error or None,
        sent_reply=row.sent_reply or None,
        events=[_event(e) for e in events],
    )


def _page(
    first: int, after: str | None, status: str | None, kind: str | None, recipient: str | None
) -> EmailDeliveryConnection:
    if after is not None and not after.isdigit():
        raise ValueError("after: use the endCursor of the previous page")
    page = emaillog.page(
        first=first,
        after=int(after) if after else None,
        status=status,
        kind=kind,
        recipient=recipient,
    )
    found = events_of([r.id for r in page.rows])
    return EmailDeliveryConnection(
        nodes=[_node(r, found.get(r.id, [])) for r in page.rows],
        page_info=PageInfo(
            has_next_page=page.has_next,
            end_cursor=str(page.next_after) if page.next_after is not None else None,
        ),
    )


def _action(action: str, message: str) -> EmailDelivery:
    try:
        row = log.retry(message) if action == "retry" else log.cancel(message)
    except OutboxMessage.DoesNotExist as exc:
        raise ValueError(f"no email delivery with id {message}") from exc
    except log.LogError as exc:
        raise GraphQLError(str(exc)) from exc
    if action == "retry":
        ADMIN_RETRIES.inc()
    return _node(row)


@strawberry.type
class DeliveriesQuery:
    @strawberry.field(
        description="The email log, newest first (site admins). Page with first/after "
        "(after = pageInfo.endCursor); filter by status, kind and recipient."
    )
    async def email_deliveries(
        self,
        info: Info,
        first: int = emaillog.DEFAULT_PAGE,
        after: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        recipient: str | None = None,
    ) -> EmailDeliveryConnection:
        info.context.require_site_admin()
        return await sync_to_async(_page)(first, after, status, kind, recipient)


@strawberry.type
class DeliveriesMutation:
    @strawberry.mutation(
        description="Queue a failed email again, due now, with the same Message-ID (site admins)."
    )
    async def retry_email_delivery(self, info: Info, id: strawberry.ID) -> EmailDelivery:
        info.context.require_site_admin()
        return await sync_to_async(_action)("retry", str(id))

    @strawberry.mutation(description="Cancel a queued email (site admins).")
    async def cancel_email_delivery(self, info: Info, id: strawberry.ID) -> EmailDelivery:
        info.context.require_site_admin()
        return await sync_to_async(_action)("cancel", str(id))
