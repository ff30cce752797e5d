"""Organization invitations end to end: GraphQL, the emails received, the link page, refusals."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sitemail.accounts.models import UserEmail
from sitemail.api.users import node_id
from sitemail.orgs import invitations, service
from sitemail.orgs.models import OrganizationInvitation, OrganizationMember
from sitemail.siteconfig import service as siteconfig
from tests.accounts.conftest import (
    EXTERNAL_URL,
    PASSWORD,
    configure,
    error_of,
    link_in,
    make_user,
    received,
    text_of,
    token_for,
)
from tests.orgs.conftest import org_with_admin

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = (
    "mutation($n: String!, $d: String) { createOrganization(name: $n, displayName: $d) "
    "{ id name displayName } }"
)
INVITE = (
    "mutation($o: ID!, $u: String, $e: String) { inviteUserToOrganization(organization: $o, "
    "username: $u, email: $e) { sentInvitationEmail invitationURL } }"
)
ORG = (
    "query($n: String!) { organization(name: $n) { id name members { nodes { username } } "
    "pendingInvitations { nodes { id recipientEmail recipient { username } } } } }"
)
BY_TOKEN = (
    "query($t: String!) { invitationByToken(token: $t) { id organization { name displayName } "
    "sender { username displayName } } }"
)
RESPOND = (
    "mutation($i: ID!, $r: OrganizationInvitationResponseType!) { respondToOrganizationInvitation"
    "(organizationInvitation: $i, responseType: $r) { alwaysNil } }"
)
REVOKE = (
    "mutation($i: ID!) { revokeOrganizationInvitation(organizationInvitation: $i) { alwaysNil } }"
)
RESEND = (
    "mutation($i: ID!) { resendOrganizationInvitationNotification(organizationInvitation: $i) "
    "{ alwaysNil } }"
)
REMOVE = (
    "mutation($u: ID!, $o: ID!) { removeUserFromOrganization(user: $u, organization: $o) "
    "{ alwaysNil } }"
)
INVITE_PATH = "/organizations/invitation/"


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _path(url: str) -> str:
    assert url.startswith(EXTERNAL_URL + INVITE_PATH), url
    return url[len(EXTERNAL_URL) :]


def _members(gql: Any, token: str, org: str = "acme") -> list[str]:
    body = gql(ORG, token, n=org)
    return [m["username"] for m in body["data"]["organization"]["members"]["nodes"]]


def test_admin_invites_by_username_and_email_both_accept_through_the_emailed_links(
    mail: Any, gql: Any
) -> None:
    admin = make_user("admin", site_admin=True)
    admin.display_name = "Ada Admin"
    admin.save()
    admin_token = token_for(admin)
    org = gql(CREATE, admin_token, n="acme", d="Acme Corp")["data"]["createOrganization"]
    bob = make_user("bob")

    by_name = gql(INVITE, admin_token, o=org["id"], u="bob")["data"]["inviteUserToOrganization"]
    by_mail = gql(INVITE, admin_token, o=org["id"], e="New.Person@Example.com")["data"][
        "inviteUserToOrganization"
    ]
    assert by_name["sentInvitationEmail"] is True and by_mail["sentInvitationEmail"] is True
    pending = gql(ORG, admin_token, n="acme")["data"]["organization"]["pendingInvitations"]
    assert len(pending["nodes"]) == 2

    msgs = received(mail, 2)
    by_rcpt = {str(m["To"]): m for m in msgs}
    assert set(by_rcpt) == {"bob@example.com", "new.person@example.com"}
    for m in msgs:
        assert str(m["Subject"]) == "Ada Admin invited you to join Acme Corp on Sourcegraph"
        assert "expires in 48 hours" in text_of(m)
    bob_link = link_in(by_rcpt["bob@example.com"], INVITE_PATH).rstrip("?")
    assert bob_link == _path(by_name["invitationURL"])

    # Bob opens the link, sees who invited him, and accepts.
    bob_client = _client_for(bob)
    page = bob_client.get(bob_link)
    assert page.status_code == 200 and b"Ada Admin" in page.content
    assert b"Acme Corp" in page.content
    done = bob_client.post(bob_link, {"response": "ACCEPT"})
    assert done.status_code == 200 and b"You joined Acme Corp." in done.content
    assert _members(gql, admin_token) == ["admin", "bob"]
    # A second accept grants nothing and says why.
    again = bob_client.post(bob_link, {"response": "ACCEPT"})
    assert again.status_code == 410 and b"already accepted" in again.content

    # The new address signs up (unverified: SMTP is on), then accepts through its link.
    new_link = link_in(by_rcpt["new.person@example.com"], INVITE_PATH).rstrip("?")
    signed_out = Client().get(new_link)
    assert b"Sign up" in signed_out.content
    new_client = Client()
    resp = new_client.post(
        "/-/sign-up",
        data=json.dumps(
            {"username": "newbie", "email": "new.person@example.com", "password": PASSWORD}
        ),
        content_type="application/json",
    )
    assert resp.status_code == 200, resp.content
    assert new_client.post(new_link, {"response": "ACCEPT"}).status_code == 200
    assert _members(gql, admin_token) == ["admin", "bob", "newbie"]
    # Accepting verifies nothing: the inviter holds the same link (audit finding 1).
    assert not UserEmail.objects.get(email="new.person@example.com").verified
    pending = gql(ORG, admin_token, n="acme")["data"]["organization"]["pendingInvitations"]
    assert pending["nodes"] == []


def test_invitation_by_token_then_respond_by_id_and_reject(mail: Any, gql: Any) -> None:
    admin, org = org_with_admin()
    bob, carol = make_user("bob"), make_user("carol")
    result = invitations.invite(admin, org, username="bob")
    token = _path(result.url)[len(INVITE_PATH) :]

    body = gql(BY_TOKEN, token_for(bob), t=token)["data"]["invitationByToken"]
    assert body["organization"] == {"name": "acme", "displayName": "Acme Corp"}
    assert body["sender"]["username"] == "admin"
    # Another user cannot use bob's token, by link or by id.
    assert "for another user" in error_of(gql(BY_TOKEN, token_for(carol), t=token))
    carol_page = _client_for(carol).post(_path(result.url), {"response": "ACCEPT"})
    assert carol_page.status_code == 403
    assert "for another user" in error_of(gql(RESPOND, token_for(carol), i=body["id"], r="ACCEPT"))
    assert not OrganizationMember.objects.filter(user=carol).exists()

    assert gql(RESPOND, token_for(bob), i=body["id"], r="REJECT")["data"] is not None
    assert not OrganizationMember.objects.filter(user=bob).exists()
    assert "already declined" in error_of(gql(RESPOND, token_for(bob), i=body["id"], r="ACCEPT"))


def test_revoked_expired_and_tampered_links_grant_nothing(mail: Any, gql: Any) -> None:
    admin, org = org_with_admin()
    bob, dan = make_user("bob"), make_user("dan")
    revoked = invitations.invite(admin, org, username="bob")
    expired = invitations.invite(admin, org, username="dan")
    rid = gql(ORG, token_for(admin), n="acme")["data"]["organization"]["pendingInvitations"]
    revoked_id = next(n["id"] for n in rid["nodes"] if n["recipient"]["username"] == "bob")
    assert gql(REVOKE, token_for(admin), i=revoked_id)["data"] is not None

    page = _client_for(bob).post(_path(revoked.url), {"response": "ACCEPT"})
    assert page.status_code == 410 and b"was revoked" in page.content

    # Time moves past the expiry.
    OrganizationInvitation.objects.filter(recipient=dan).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    dan_client = _client_for(dan)
    assert b"expired on" in dan_client.get(_path(expired.url)).content
    assert dan_client.post(_path(expired.url), {"response": "ACCEPT"}).status_code == 410

    tampered = _path(expired.url)[:-3] + "xyz"
    page = dan_client.get(tampered)
    assert page.status_code == 410 and b"invalid organization invitation link" in page.content
    assert _members(gql, token_for(admin)) == ["admin"]


def test_resend_sends_a_new_email_with_a_new_expiry(mail: Any, gql: Any) -> None:
    admin, org = org_with_admin()
    make_user("bob")
    invitations.invite(admin, org, username="bob")
    row = OrganizationInvitation.objects.get()
    OrganizationInvitation.objects.filter(pk=row.pk).update(
        expires_at=timezone.now() + timedelta(hours=1)
    )
    nodes = gql(ORG, token_for(admin), n="acme")["data"]["organization"]["pendingInvitations"]
    assert gql(RESEND, token_for(admin), i=nodes["nodes"][0]["id"])["data"] is not None
    assert len(received(mail, 2)) == 2
    row.refresh_from_db()
    assert row.expires_at > timezone.now() + timedelta(hours=47)


def test_refusals_unverified_non_member_bad_address_duplicate_and_no_signing_key(
    mail: Any, gql: Any
) -> None:
    admin, _ = org_with_admin()
    make_user("unverified", verified=False)
    outsider = make_user("outsider")
    make_user("bob")
    admin_token = token_for(admin)
    oid = gql(ORG, admin_token, n="acme")["data"]["organization"]["id"]

    assert error_of(gql(INVITE, admin_token, o=oid, u="unverified")) == (
        "cannot invite user because their primary email address is not verified"
    )
    assert "must be a member" in error_of(gql(INVITE, token_for(outsider), o=oid, u="bob"))
    assert "must be a member" in error_of(gql(ORG, token_for(outsider), n="acme"))
    assert "not a valid email address" in error_of(gql(INVITE, admin_token, o=oid, e="no-at"))
    assert "exactly one of" in error_of(gql(INVITE, admin_token, o=oid))
    gql(INVITE, admin_token, o=oid, u="bob")
    assert "pending invitation" in error_of(gql(INVITE, admin_token, o=oid, u="bob"))
    assert "already a member" in error_of(gql(INVITE, admin_token, o=oid, u="admin"))

    assert OrganizationInvitation.objects.count() == 1
    assert len(received(mail, 1)) == 1


def test_without_a_signing_key_the_first_invitation_generates_and_stores_one(
    smtp_server: Any, gql: Any
) -> None:
    configure(smtp_server(tls="none"))  # no organizationInvitations
    admin, _ = org_with_admin()
    admin_token = token_for(admin)
    oid = gql(ORG, admin_token, n="acme")["data"]["organization"]["id"]
    first = gql(INVITE, admin_token, o=oid, e="x@example.com")
    assert "errors" not in first, first
    text = siteconfig.current().contents
    assert invitations.KEY_COMMENT.split(":")[0] in text
    key = siteconfig.get_settings().organization_invitations.signing_key
    assert key is not None and len(base64.b64decode(key)) == 32
    # The link made with it works; a second invitation keeps the same key.
    url = first["data"]["inviteUserToOrganization"]["invitationURL"]
    assert invitations.decode(url.rsplit("/", 1)[1]).recipient_email == "x@example.com"
    gql(INVITE, admin_token, o=oid, e="y@example.com")
    assert siteconfig.get_settings().organization_invitations.signing_key == key


def test_in_file_mode_a_missing_signing_key_is_refused_naming_the_key(
    smtp_server: Any, gql: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, _ = org_with_admin()
    admin_token = token_for(admin)
    oid = gql(ORG, admin_token, n="acme")["data"]["organization"]["id"]
    path = tmp_path / "site.jsonc"
    path.write_text(json.dumps({"externalURL": "https://sg.example.com"}))
    monkeypatch.setenv("SITE_CONFIG_FILE", str(path))
    message = error_of(gql(INVITE, admin_token, o=oid, e="x@example.com"))
    assert "organizationInvitations.signingKey" in message and "SITE_CONFIG_FILE" in message
    assert OrganizationInvitation.objects.count() == 0
    assert path.read_text() == json.dumps({"externalURL": "https://sg.example.com"})


def test_names_are_escaped_in_html_and_cannot_inject_headers(mail: Any) -> None:
    admin, org = org_with_admin(display="<b>Evil</b> Org")
    admin.display_name = "Eve\r\nBcc: victim@example.com <script>"
    admin.save()
    invitations.invite(admin, org, email="target@example.com")
    [msg] = received(mail, 1)
    assert mail.wait_for(1)[0].rcpt_tos == ["target@example.com"]
    assert msg["Bcc"] is None
    assert "\n" not in str(msg["Subject"]) and "Eve" in str(msg["Subject"])
    html = msg.get_body(("html",))
    assert html is not None
    content = str(html.get_content())
    assert "<script>" not in content and "&lt;script&gt;" in content
    assert "<b>Evil</b>" not in content and "&lt;b&gt;Evil&lt;/b&gt;" in content


def test_without_smtp_an_unverified_user_can_be_invited_and_no_email_is_sent(gql: Any) -> None:
    from tests.orgs.conftest import SIGNING

    configure(None, organizationInvitations=SIGNING)
    admin, org = org_with_admin()
    make_user("plain", verified=False)
    result = invitations.invite(admin, org, username="plain")
    assert result.sent_email is False and result.url.startswith(EXTERNAL_URL + INVITE_PATH)


def test_address_invitation_by_id_needs_a_verified_address(mail: Any, gql: Any) -> None:
    """Without the emailed link, only a verified owner of the address may answer by id."""
    admin, org = org_with_admin()
    invitations.invite(admin, org, email="shared@example.com")
    squatter = make_user("squatter", verified=False)
    UserEmail.objects.filter(user=squatter).update(email="shared@example.com")
    iid = gql(ORG, token_for(admin), n="acme")["data"]["organization"]["pendingInvitations"][
        "nodes"
    ][0]["id"]
    squatter_token = token_for(squatter)
    assert "for another user" in error_of(gql(RESPOND, squatter_token, i=iid, r="ACCEPT"))
    assert not OrganizationMember.objects.filter(user=squatter).exists()

    UserEmail.objects.filter(user=squatter).update(verified_at=timezone.now(), is_primary=True)
    assert gql(RESPOND, squatter_token, i=iid, r="ACCEPT")["data"] is not None
    assert _members(gql, token_for(admin)) == ["admin", "squatter"]


def test_create_organization_validates_and_remove_user_from_organization(
    mail: Any, gql: Any
) -> None:
    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    token = token_for(alice)
    org = gql(CREATE, token, n="team", d="Team\r\nBcc: x@example.com")["data"]["createOrganization"]
    assert org["displayName"] == "Team Bcc: x@example.com"  # one line: it goes into subjects
    assert "already taken" in error_of(gql(CREATE, token, n="TEAM"))
    assert "already taken" in error_of(gql(CREATE, token, n="bob"))  # shared with usernames
    assert "name:" in error_of(gql(CREATE, token, n="bad name!"))

    bob_id = node_id("User", bob.pk)
    service.add_member(service.get_by_name("team"), bob)
    assert _members(gql, token, "team") == ["alice", "bob"]
    assert "must be a member" in error_of(gql(REMOVE, token_for(eve), u=bob_id, o=org["id"]))
    assert gql(REMOVE, token, u=bob_id, o=org["id"])["data"] is not None
    assert _members(gql, token, "team") == ["alice"]
    assert "is not a member" in error_of(gql(REMOVE, token, u=bob_id, o=org["id"]))
