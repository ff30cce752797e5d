"""RFC 8058 one-click unsubscribe on notification mail: the headers, a POST with no session,
forged and replayed tokens, the confirmation page, undo, and the mailto form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts import emails, passwords
from sitemail.accounts.models import User, UserEmail
from sitemail.accounts.users import create_user
from sitemail.deliverability.inbound import Listener
from sitemail.deliverability.models import Unsubscription
from sitemail.monitors import repos, runner, service
from sitemail.monitors.models import ActionRun, CodeMonitor, Repository
from sitemail.orgs import instance
from sitemail.orgs.models import Organization, OrganizationMember
from tests.admin.conftest import AdminClient, sign_in
from tests.deliverability.bounces import BOUNCE_DOMAIN, drain, send_report
from tests.monitors.conftest import GitRepo
from tests.smtpserver import Received, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)
_LINK = re.compile(r"<(https://[^>]+)>")
_MAILTO = re.compile(r"<mailto:([^?>]+)\?subject=([^>]+)>")


def links(received: Received) -> tuple[str, str]:
    """(https link, mailto link) of a message's List-Unsubscribe header, unfolded."""
    header = str(received.message["List-Unsubscribe"])
    https, mailto = _LINK.search(header), _MAILTO.search(header)
    assert https is not None and mailto is not None, header
    return https.group(1), mailto.group(0)


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


class Monitor:
    """A code monitor over a real mirror with an email action to `recipients`."""

    def __init__(self, owner: User, recipients: list[User], make: Any) -> None:
        self.src: GitRepo = make("acme")
        repos.add(str(self.src.path))
        # Recipients must be the owner or members of an organization the owner belongs to.
        org = Organization.objects.create(name="team")
        OrganizationMember.objects.bulk_create(
            [OrganizationMember(org=org, user=u) for u in {owner, *recipients}]
        )
        action = service.ActionSpec(type="email", recipients=[u.pk for u in recipients])
        spec = service.MonitorSpec(description="TODOs", query="type:diff TODO", actions=[action])
        self.monitor = service.create(owner, owner.pk, spec)
        self.n = 0

    def fire(self) -> ActionRun:
        self.n += 1
        self.src.commit(f"TODO {self.n}", {f"f{self.n}.txt": "TODO\n"})
        for repo in Repository.objects.all():
            assert repos.fetch(repo)
        run = runner.run_monitor(CodeMonitor.objects.get(pk=self.monitor.pk))
        return ActionRun.objects.get(trigger_run=run)


@pytest.fixture
def users() -> tuple[User, User]:
    return create_user("alice", "alice@example.com"), create_user("bob", "bob@example.com")


def test_monitor_email_one_click_post_without_session(
    server: TestSMTPServer, users: tuple[User, User], make_repo: Any
) -> None:
    alice, bob = users
    monitor = Monitor(alice, [alice, bob], make_repo)
    monitor.fire()
    drain()
    received = {m.rcpt_tos[0]: m for m in server.wait_for(2)}
    mail = received["bob@example.com"]
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = links(mail)
    assert https.startswith("https://sourcegraph.example.com/-/unsubscribe/")
    assert f"mailto:unsubscribe@{BOUNCE_DOMAIN}?subject=unsubscribe%20" in mailto

    # RFC 8058: the provider POSTs with no cookies, no CSRF token.
    client = Client(enforce_csrf_checks=True)
    forged = https[:-8] + ("A" if https[-8] != "A" else "B") + https[-7:]
    assert client.post(path_of(forged), {"List-Unsubscribe": "One-Click"}).status_code == 400
    assert Unsubscription.objects.count() == 0
    response = client.post(path_of(https), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert b"bob@example.com will no longer get email from the code monitor" in response.content
    # Replayed: nothing more happens.
    again = client.post(path_of(https), {"List-Unsubscribe": "One-Click"})
    assert b"already used" in again.content and Unsubscription.objects.count() == 1

    server.clear()
    log = monitor.fire()
    drain()
    assert [m.rcpt_tos for m in server.wait_for(1)] == [["alice@example.com"]]
    assert "skipped bob: unsubscribed from this monitor's email" in log.message

    # Undo from bob's settings; the old link replayed after the undo changes nothing.
    bob_client = AdminClient(sign_in("bob"))
    page = bob_client.get("/user/settings/emails").content.decode()
    assert "Notifications you turned off" in page, page[page.find("<main") :]
    assert "code monitor &quot;TODOs&quot;" in page
    unsub = Unsubscription.objects.get()
    bob_client.post("/user/settings/unsubscriptions/undo", {"id": str(unsub.pk)})
    client.post(path_of(https), {"List-Unsubscribe": "One-Click"})
    server.clear()
    monitor.fire()
    drain()
    assert sorted(m.rcpt_tos[0] for m in server.wait_for(2)) == [
        "alice@example.com",
        "bob@example.com",
    ]


def test_get_shows_a_confirmation_and_changes_nothing(
    server: TestSMTPServer, users: tuple[User, User], make_repo: Any
) -> None:
    alice, _ = users
    Monitor(alice, [alice], make_repo).fire()
    drain()
    https, _ = links(server.wait_for(1)[0])
    page = Client().get(path_of(https))
    assert page.status_code == 200 and b"Stop sending email from the code monitor" in page.content
    assert Unsubscription.objects.count() == 0
    assert Client().get("/-/unsubscribe/not-a-token/").status_code == 400


def test_someone_elses_undo_does_nothing(
    server: TestSMTPServer, users: tuple[User, User], make_repo: Any
) -> None:
    alice, bob = users
    Monitor(alice, [alice, bob], make_repo).fire()
    drain()
    mail = next(m for m in server.wait_for(2) if m.rcpt_tos == ["bob@example.com"])
    Client().post(path_of(links(mail)[0]))
    unsub = Unsubscription.objects.get()
    AdminClient(sign_in("alice")).post("/user/settings/unsubscriptions/undo", {"id": str(unsub.pk)})
    unsub.refresh_from_db()
    assert unsub.undone_at is None


def test_instance_invitation_and_mailto(
    server: TestSMTPServer, users: tuple[User, User], listener: Listener
) -> None:
    alice, _ = users
    assert instance.invite(alice, "friend@example.net")
    drain()
    [mail] = server.wait_for(1)
    _, mailto = links(mail)
    match = _MAILTO.search(mailto)
    assert match is not None
    from urllib.parse import unquote

    to, subject = match.group(1), unquote(match.group(2))
    send_report(listener.port, to, f"Subject: {subject}\r\n\r\n\r\n".encode(), "friend@example.net")
    assert Unsubscription.objects.get().scope == "instance_invitation"
    from sitemail.orgs.models import InstanceInvitation

    InstanceInvitation.objects.all().delete()  # past the 24-hour limit
    assert instance.invite(alice, "friend@example.net") is False
    server.clear()
    drain()
    assert server.messages == []


def test_resets_and_verifications_never_carry_the_headers(
    server: TestSMTPServer, users: tuple[User, User]
) -> None:
    carol = create_user("carol", "carol@example.com", verified=False)
    assert emails.send_verification(UserEmail.objects.get(user=carol))
    passwords.request_reset("alice@example.com")
    drain()
    messages = server.wait_for(2)
    assert {m.message["Subject"].split()[0] for m in messages} == {"Verify", "Reset"}
    assert all(m.message["List-Unsubscribe"] is None for m in messages)
    assert all(m.message["List-Unsubscribe-Post"] is None for m in messages)
