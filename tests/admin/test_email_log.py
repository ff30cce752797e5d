"""/site-admin/email-log and GraphQL emailDeliveries: filters, paging, detail, retry, cancel."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from sitemail import outbox
from sitemail.accounts import tokens
from sitemail.accounts.models import User
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from tests.admin.conftest import AdminClient, set_document, site_doc

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory

RESET_URL = "https://sg.example.com/password-reset?code=TOPSECRETCODE"


def run_worker() -> int:
    async def once() -> int:
        async with Worker() as worker:
            return await worker.run_until_idle()

    return asyncio.run(once())


def ids_on(page: Any) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)">', page.content.decode())]


def make_rows(n: int, **fields: Any) -> None:
    now = timezone.now()
    OutboxMessage.objects.bulk_create(
        OutboxMessage(
            kind=fields.get("kind", "django"),
            status=fields.get("status", Status.SENT),
            recipient=fields.get("recipient", f"user{i}@example.com"),
            mail_from="noreply@example.com",
            message_id=f"<bulk-{fields.get('kind', 'django')}-{i}-{time.monotonic_ns()}@x>",
            data=b"Subject: x\r\n\r\nx\r\n",
            attempts=1,
            last_error=fields.get("last_error", ""),
            sent_reply=fields.get("sent_reply", ""),
            next_attempt_at=now,
            created_at=now - timedelta(seconds=n - i),
        )
        for i in range(n)
    )


def test_failed_message_is_listed_shown_without_secrets_retried_and_delivered(
    admin: AdminClient, smtp_server: ServerFactory
) -> None:
    server = smtp_server(tls="none", auth=())
    set_document(site_doc(server))
    user = User.objects.create(username="bob")
    outbox.enqueue(
        "reset_password", "bob@example.com", {"username": user.username, "url": RESET_URL}
    )
    [row] = OutboxMessage.objects.filter(kind="reset_password")

    # Queued: the detail page shows the message with the reset link removed.
    detail = admin.get(f"/site-admin/email-log/{row.id}")
    body = detail.content.decode()
    assert detail.status_code == 200 and "TOPSECRETCODE" not in body
    assert "Message-Id" in body or "Message-ID" in body
    assert 'id="text-part"' in body and "srcdoc=" in body

    server.fail_next(550, "5.1.1 mailbox unavailable", at="rcpt")
    run_worker()
    row.refresh_from_db()
    assert row.status == Status.FAILED

    log = admin.get("/site-admin/email-log?status=failed").content.decode()
    assert f'<tr data-id="{row.id}">' in log and "5.1.1 mailbox unavailable" in log
    assert "bob@example.com" in log and "reset_password" in log
    assert row.id not in ids_on(admin.get("/site-admin/email-log?status=sent"))
    assert ids_on(admin.get("/site-admin/email-log?recipient=BOB@example.com")) == [row.id]
    assert ids_on(admin.get("/site-admin/email-log?kind=test_email")) == []

    retried = admin.post(
        f"/site-admin/email-log/{row.id}/retry", {"next": "/site-admin/email-log?status=failed"}
    )
    assert retried.status_code == 302 and "queued+again" in retried["Location"]
    row.refresh_from_db()
    assert row.status == Status.QUEUED
    run_worker()
    # The RCPT refusal delivered nothing; the retry delivers the same message, link intact.
    [received] = server.wait_for(1)
    assert received.message["Message-ID"] == row.message_id
    body = received.message.get_body(("plain",))
    assert body is not None and RESET_URL in body.get_content()
    row.refresh_from_db()
    assert row.status == Status.SENT and row.attempts == 2


def test_cancel_queued_and_refusals(admin: AdminClient, alice: AdminClient) -> None:
    make_rows(1, status=Status.QUEUED)
    [row] = OutboxMessage.objects.all()
    assert alice.post(f"/site-admin/email-log/{row.id}/cancel").status_code == 403
    response = admin.post(f"/site-admin/email-log/{row.id}/cancel")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == Status.CANCELLED
    again = admin.get(admin.post(f"/site-admin/email-log/{row.id}/retry")["Location"])
    assert "only failed messages can be retried" in again.content.decode()
    assert admin.get("/site-admin/email-log/999999").status_code == 404


def test_keyset_paging_walks_every_row_once(admin: AdminClient) -> None:
    make_rows(120)
    seen: list[int] = []
    url = "/site-admin/email-log"
    while url:
        page = admin.get(url)
        seen += ids_on(page)
        match = re.search(r'href="(\?[^"]*after=\d+[^"]*)" id="older"', page.content.decode())
        url = "/site-admin/email-log" + match[1].replace("&amp;", "&") if match else ""
    assert seen == sorted(OutboxMessage.objects.values_list("id", flat=True), reverse=True)


def test_graphql_email_deliveries_and_retry(admin: AdminClient, alice: AdminClient) -> None:
    make_rows(3, status=Status.FAILED, kind="test_email")
    make_rows(2, status=Status.SENT, sent_reply="250 2.0.0 Ok: queued as 4F2A")
    token = tokens.create(User.objects.get(username="admin"), note="t")[1]

    def gql(query: str, variables: dict[str, Any], tok: str = token) -> Any:
        response = admin.client.post(
            "/.api/graphql",
            json.dumps({"query": query, "variables": variables}),
            content_type="application/json",
            headers={"Authorization": f"token {tok}"},
        )
        return json.loads(response.content)

    query = """query($after: String, $status: String) {
      emailDeliveries(first: 2, after: $after, status: $status) {
        nodes { id kind status recipient attempts messageID lastError sentReply }
        pageInfo { hasNextPage endCursor } } }"""
    first = gql(query, {"status": "failed"})["data"]["emailDeliveries"]
    assert [n["status"] for n in first["nodes"]] == ["failed", "failed"]
    assert [n["sentReply"] for n in first["nodes"]] == [None, None]
    sent = gql(query, {"status": "sent"})["data"]["emailDeliveries"]["nodes"]
    assert [n["sentReply"] for n in sent] == ["250 2.0.0 Ok: queued as 4F2A"] * 2
    assert first["pageInfo"]["hasNextPage"] is True
    rest = gql(query, {"status": "failed", "after": first["pageInfo"]["endCursor"]})
    rest = rest["data"]["emailDeliveries"]
    assert len(rest["nodes"]) == 1 and rest["pageInfo"]["hasNextPage"] is False
    target = rest["nodes"][0]["id"]
    retry = "mutation($id: ID!) { retryEmailDelivery(id: $id) { id status } }"
    assert gql(retry, {"id": target})["data"]["retryEmailDelivery"]["status"] == "queued"
    refused = gql(retry, {"id": target})
    assert "only failed messages can be retried" in refused["errors"][0]["message"]

    alice_token = tokens.create(User.objects.get(username="alice"), note="t")[1]
    denied = gql(query, {}, alice_token)
    assert denied["data"] is None and "must be site admin" in denied["errors"][0]["message"]


def test_detail_redacts_sensitive_additional_headers(
    admin: AdminClient, smtp_server: ServerFactory
) -> None:
    doc = site_doc(smtp_server(tls="none", auth=()))
    doc["email.smtp"]["additionalHeaders"] = [
        {"key": "X-Relay-Key", "value": "hunter2-relay-key", "sensitive": True},
        {"key": "X-Mailer", "value": "sitemail-test"},
    ]
    set_document(doc)
    row = outbox.enqueue("test_email", "eve@example.com", {"test_id": "abcde"})
    page = admin.get(f"/site-admin/email-log/{row.id}").content.decode()
    assert "X-Relay-Key" in page and "hunter2-relay-key" not in page
    assert "sitemail-test" in page
