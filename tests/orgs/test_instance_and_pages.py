"""Instance invitations (once a day per address), the org pages, and the bulk-invite CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sitemail import cli
from sitemail.orgs.models import InstanceInvitation, OrganizationInvitation
from tests.accounts.conftest import (
    EXTERNAL_URL,
    error_of,
    link_in,
    make_user,
    received,
    token_for,
)
from tests.orgs.conftest import org_with_admin
from tests.orgs.test_invitations import _client_for

pytestmark = pytest.mark.django_db(transaction=True)

INVITE = "mutation($e: String!) { inviteEmailToSourcegraph(email: $e) { alwaysNil } }"


def test_invite_email_to_sourcegraph_sends_once_a_day(mail: Any, gql: Any) -> None:
    alice = make_user("alice")
    alice.display_name = "Alice A"
    alice.save()
    token = token_for(alice)
    assert gql(INVITE, token, e="friend@example.com")["data"] is not None
    assert "already invited in the last 24 hours" in error_of(
        gql(INVITE, token, e="Friend@Example.com")
    )
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == "Alice A has invited you to Sourcegraph"
    assert link_in(msg, "/sign-up").startswith("/sign-up")
    assert Client().get("/sign-up").status_code == 200  # the link leads to a sign-up form

    # The limit is a database row: a day later (time moved) the address may be invited again.
    InstanceInvitation.objects.update(last_sent_at=timezone.now() - timedelta(hours=25))
    assert gql(INVITE, token, e="friend@example.com")["data"] is not None
    assert len(received(mail, 2)) == 2
    assert "not authenticated" in error_of(gql(INVITE, None, e="x@example.com"))
    assert "not a valid email address" in error_of(gql(INVITE, token, e="bad@@x"))


def test_pages_create_an_org_invite_and_list_members(mail: Any) -> None:
    alice = make_user("alice")
    make_user("bob")
    client = _client_for(alice)
    resp = client.post("/organizations/new", {"name": "team", "display_name": "The Team"})
    assert resp.status_code == 302 and resp["Location"] == "/organizations/team/members"
    bad = client.post("/organizations/new", {"name": "team", "display_name": ""})
    assert bad.status_code == 400 and b"already taken" in bad.content

    page = client.post("/organizations/team/members", {"action": "invite", "who": "bob"})
    assert page.status_code == 200 and b"Invited bob" in page.content
    assert EXTERNAL_URL.encode() + b"/organizations/invitation/" in page.content
    page = client.get("/organizations/team/members")
    assert b"alice" in page.content and b"<td>bob</td>" in page.content  # member, pending
    [msg] = received(mail, 1)
    assert str(msg["Subject"]) == "alice invited you to join The Team on Sourcegraph"

    outsider = _client_for(make_user("carol"))
    assert outsider.get("/organizations/team/members").status_code == 403
    assert (
        outsider.post(
            "/organizations/team/members", {"action": "invite", "who": "x@example.com"}
        ).status_code
        == 403
    )
    assert OrganizationInvitation.objects.count() == 1


def test_cli_bulk_invite_reports_and_never_sends_twice(
    mail: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org_with_admin()
    make_user("bob")
    emails = tmp_path / "emails.txt"
    emails.write_text(
        "# team\na@example.com\nB@example.com\na@example.com\nnot-an-address@\nbob\n\n"
    )
    cli.cmd_orgs_invite(
        cli.build_parser().parse_args(["orgs", "invite", "acme", "--from-file", str(emails)])
    )
    out = capsys.readouterr().out
    assert "sent 3, skipped 0, failed 1 (inviting to acme as admin)." in out
    assert "Failed 1:" in out and "not-an-address@" in out
    assert len(received(mail, 3)) == 3

    cli.cmd_orgs_invite(
        cli.build_parser().parse_args(["orgs", "invite", "acme", "--from-file", str(emails)])
    )
    out = capsys.readouterr().out
    assert "sent 0, skipped 3, failed 1" in out and "Skipped 3:" in out
    assert "pending invitation" in out
    assert OrganizationInvitation.objects.count() == 3
    assert len(received(mail, 3)) == 3

    # --resend sends the pending ones again (new expiry), still one invitation each.
    cli.cmd_orgs_invite(
        cli.build_parser().parse_args(
            ["orgs", "invite", "acme", "--from-file", str(emails), "--resend"]
        )
    )
    out = capsys.readouterr().out
    assert "sent 3, skipped 0, failed 1" in out and "Resent 3 pending invitation(s)" in out
    assert OrganizationInvitation.objects.count() == 3
    assert len(received(mail, 6)) == 6
