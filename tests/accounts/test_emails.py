"""User emails over GraphQL and the Emails pages: add, verify, resend, primary, remove, access."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.emails import TOO_RECENT
from sitemail.accounts.models import RateLimit, UserEmail
from sitemail.api.users import node_id
from tests.accounts.conftest import (
    HOST,
    PASSWORD,
    error_of,
    link_in,
    make_user,
    received,
    text_of,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

ADD = "mutation($u: ID!, $e: String!) { addUserEmail(user: $u, email: $e) { alwaysNil } }"
REMOVE = "mutation($u: ID!, $e: String!) { removeUserEmail(user: $u, email: $e) { alwaysNil } }"
PRIMARY = (
    "mutation($u: ID!, $e: String!) { setUserEmailPrimary(user: $u, email: $e) { alwaysNil } }"
)
RESEND = (
    "mutation($u: ID!, $e: String!) { resendVerificationEmail(user: $u, email: $e) { alwaysNil } }"
)
VERIFIED = (
    "mutation($u: ID!, $e: String!, $v: Boolean!) "
    "{ setUserEmailVerified(user: $u, email: $e, verified: $v) { alwaysNil } }"
)
EMAILS = (
    "query($n: String!) { user(username: $n) { id emails { email verified isPrimary "
    "verificationPending } primaryEmail { email } } }"
)
NIL = {"alwaysNil": None}


def emails_of(gql: Any, token: str, username: str) -> dict[str, dict[str, Any]]:
    user = gql(EMAILS, token, n=username)["data"]["user"]
    return {e.pop("email"): e for e in user["emails"]}


def test_add_sends_verification_whose_link_verifies_and_resend_is_limited(
    mail: Any, gql: Any
) -> None:
    alice = make_user("alice")
    token, uid = token_for(alice), node_id("User", alice.pk)
    body = gql(ADD, token, u=uid, e="Alice.Work@Example.com")
    assert body == {"data": {"addUserEmail": NIL}}
    assert emails_of(gql, token, "alice")["Alice.Work@example.com"] == {
        "verified": False,
        "isPrimary": False,
        "verificationPending": True,
    }
    refused = gql(RESEND, token, u=uid, e="alice.work@example.com")
    assert error_of(refused) == TOO_RECENT == "Last verification email sent too recently"

    update, verify = sorted(received(mail, 2), key=lambda m: str(m["Subject"]))
    assert str(update["Subject"]) == f"Update to your Sourcegraph account ({HOST})"
    assert update["To"] == "alice@example.com" and "Alice.Work@example.com was added" in text_of(
        update
    )
    assert str(verify["Subject"]) == f"Verify your email on Sourcegraph ({HOST})"
    assert verify["To"] == "Alice.Work@example.com"

    # A minute later the resend goes out, and only the newest link works.
    UserEmail.objects.filter(email="Alice.Work@example.com").update(
        last_verification_sent_at="2000-01-01T00:00:00Z"
    )
    RateLimit.objects.update(last_at="2000-01-01T00:00:00Z")
    assert gql(RESEND, token, u=uid, e="Alice.Work@example.com") == {
        "data": {"resendVerificationEmail": NIL}
    }
    resent = received(mail, 3)[2]
    assert Client().get(link_in(verify, "/-/verify-email")).status_code == 400
    page = Client().get(link_in(resent, "/-/verify-email"))
    assert page.status_code == 200 and b"Alice.Work@example.com is now verified" in page.content
    assert emails_of(gql, token, "alice")["Alice.Work@example.com"]["verified"] is True
    # Verified: resend is a no-op that sends nothing.
    assert gql(RESEND, token, u=uid, e="Alice.Work@example.com")["data"] is not None
    assert received(mail, 3)


def test_set_verified_is_for_site_admins_only(mail: Any, gql: Any) -> None:
    admin, bob = make_user("admin", site_admin=True), make_user("bob")
    bob_token, uid = token_for(bob), node_id("User", bob.pk)
    gql(ADD, bob_token, u=uid, e="bob2@example.com")
    refused = gql(VERIFIED, bob_token, u=uid, e="bob2@example.com", v=True)
    assert error_of(refused) == "must be site admin"
    assert emails_of(gql, bob_token, "bob")["bob2@example.com"]["verified"] is False

    admin_token = token_for(admin)
    ok = gql(VERIFIED, admin_token, u=uid, e="bob2@example.com", v=True)
    assert ok == {"data": {"setUserEmailVerified": NIL}}
    assert emails_of(gql, bob_token, "bob")["bob2@example.com"]["verified"] is True

    # The same address cannot be verified for a second user (one owner per verified address).
    carol = make_user("carol")
    cid = node_id("User", carol.pk)
    assert "already verified by another user" in error_of(
        gql(ADD, token_for(carol), u=cid, e="bob2@example.com")
    )
    gql(ADD, token_for(carol), u=cid, e="shared@example.com")
    gql(ADD, bob_token, u=uid, e="shared@example.com")
    gql(VERIFIED, admin_token, u=cid, e="shared@example.com", v=True)
    dup = gql(VERIFIED, admin_token, u=uid, e="shared@example.com", v=True)
    assert "already verified by another user" in error_of(dup)

    # Unverifying the primary hands primary on to another verified address.
    gql(VERIFIED, admin_token, u=uid, e="bob@example.com", v=False)
    after = emails_of(gql, bob_token, "bob")
    assert after["bob@example.com"] == {
        "verified": False,
        "isPrimary": False,
        "verificationPending": False,
    }
    assert after["bob2@example.com"]["isPrimary"] is True


def test_primary_and_remove_rules_and_account_update_emails(mail: Any, gql: Any) -> None:
    dana = make_user("dana")
    token, uid = token_for(dana), node_id("User", dana.pk)
    gql(ADD, token, u=uid, e="dana2@example.com")
    refused = gql(PRIMARY, token, u=uid, e="dana2@example.com")
    assert "only a verified email can be primary" in error_of(refused)
    UserEmail.objects.filter(email="dana2@example.com").update(verified_at="2024-01-01T00:00:00Z")
    assert gql(PRIMARY, token, u=uid, e="dana2@example.com") == {
        "data": {"setUserEmailPrimary": NIL}
    }
    data = gql(EMAILS, token, n="dana")["data"]["user"]
    assert data["primaryEmail"] == {"email": "dana2@example.com"}
    assert "cannot remove the primary" in error_of(gql(REMOVE, token, u=uid, e="dana2@example.com"))
    assert gql(REMOVE, token, u=uid, e="dana@example.com") == {"data": {"removeUserEmail": NIL}}
    assert set(emails_of(gql, token, "dana")) == {"dana2@example.com"}

    msgs = received(mail, 4)  # verify + added, primary changed (to the old primary), removed
    updates = [m for m in msgs if str(m["Subject"]).startswith("Update to")]
    lines = sorted((m["To"], text_of(m).replace("\r\n", "\n").split("\n")[2]) for m in updates)
    assert lines == [
        ("dana2@example.com", "The email address dana@example.com was removed from your account."),
        ("dana@example.com", "The email address dana2@example.com was added to your account."),
        ("dana@example.com", "Your primary email address was changed to dana2@example.com."),
    ]


def test_others_are_refused_and_nothing_changes(mail: Any, gql: Any) -> None:
    erin, mallory = make_user("erin"), make_user("mallory")
    uid, mtoken = node_id("User", erin.pk), token_for(mallory)
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        (ADD, {}),
        (REMOVE, {}),
        (PRIMARY, {}),
        (RESEND, {}),
    )
    for query, extra in cases:
        body = gql(query, mtoken, u=uid, e="erin@example.com", **extra)
        assert error_of(body) == "must be authenticated as the user or as a site admin"
    assert "must be authenticated" in error_of(gql(EMAILS, mtoken, n="erin"))
    anonymous = gql(ADD, None, u=uid, e="x@example.com")
    assert "not authenticated" in error_of(anonymous)
    assert list(UserEmail.objects.filter(user=erin).values_list("email", flat=True)) == [
        "erin@example.com"
    ]
    assert received(mail, 0) == []


def test_bad_input_gets_clear_errors(mail: Any, gql: Any) -> None:
    fay = make_user("fay")
    token, uid = token_for(fay), node_id("User", fay.pk)
    assert "not a valid email address" in error_of(gql(ADD, token, u=uid, e="not-an-address"))
    assert "too long" in error_of(gql(ADD, token, u=uid, e="a" * 400 + "@example.com"))
    assert "already an email address" in error_of(gql(ADD, token, u=uid, e="FAY@example.com"))
    assert "invalid User ID" in error_of(gql(ADD, token, u="bogus", e="f@example.com"))
    missing = gql(ADD, token, u=node_id("User", 999999), e="f@example.com")
    assert "not found" in error_of(missing)
    unknown = gql(REMOVE, token, u=uid, e="nope@example.com")
    assert "is not an email address of user 'fay'" in error_of(unknown)
    make_user("gail")
    taken = gql(ADD, token, u=uid, e="gail@example.com")
    assert "already verified by another user" in error_of(taken)


def test_emails_pages_user_and_site_admin(mail: Any) -> None:
    make_user("admin", site_admin=True)
    hal = make_user("hal")
    client = Client()
    client.post("/sign-in", {"username": "hal", "password": PASSWORD})
    page = client.post("/user/settings/emails", {"action": "add", "email": "hal2@example.com"})
    assert page.status_code == 200 and b"hal2@example.com" in page.content
    assert b"verification pending" in page.content
    again = client.post("/user/settings/emails", {"action": "resend", "email": "hal2@example.com"})
    assert again.status_code == 400 and TOO_RECENT.encode() in again.content
    primary = client.post(
        "/user/settings/emails", {"action": "primary", "email": "hal2@example.com"}
    )
    assert b"only a verified email can be primary" in primary.content
    assert client.get(f"/site-admin/users/{hal.username}/emails").status_code == 403

    admin = Client()
    admin.post("/sign-in", {"username": "admin", "password": PASSWORD})
    listing = admin.get("/site-admin/users/hal/emails")
    assert b"Mark verified" in listing.content
    marked = admin.post(
        "/site-admin/users/hal/emails", {"action": "verify", "email": "hal2@example.com"}
    )
    assert marked.status_code == 200 and b"Marked hal2@example.com verified" in marked.content
    assert UserEmail.objects.get(email="hal2@example.com").verified
    removed = client.post(
        "/user/settings/emails", {"action": "remove", "email": "hal2@example.com"}
    )
    assert removed.status_code == 200 and b"Removed hal2@example.com" in removed.content


def test_one_address_gets_one_verification_email_a_minute_across_users(mail: Any, gql: Any) -> None:
    ida, jon = make_user("ida"), make_user("jon")
    for user in (ida, jon):
        gql(ADD, token_for(user), u=node_id("User", user.pk), e="victim@example.com")
    msgs = received(mail, 3)  # one verification email, two "email added" notices
    assert [m["To"] for m in msgs].count("victim@example.com") == 1
    refused = gql(RESEND, token_for(jon), u=node_id("User", jon.pk), e="victim@example.com")
    assert error_of(refused) == TOO_RECENT
