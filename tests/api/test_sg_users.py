"""Sourcegraph's clients on users: `src users ...` and the site-admin users pages, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.relay import to_base64

from sitemail.accounts.models import User, UserEmail
from sitemail.orgs import service as orgs
from tests.accounts.conftest import EXTERNAL_URL, configure, link_in, received
from tests.api import sourcegraph_ops as ops
from tests.api.conftest import Actor, make_actor
from tests.api.live import LiveAPI

pytestmark = pytest.mark.django_db(transaction=True)


def _user_fields(user: User, *, orgs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": to_base64("User", user.pk),
        "username": user.username,
        "displayName": user.display_name,
        "siteAdmin": user.site_admin,
        "organizations": {"nodes": orgs or []},
        "emails": [{"email": f"{user.username}@example.com", "verified": True}],
        "url": f"/users/{user.username}",
    }


def test_src_users_create_sends_set_password_email_and_returns_the_link(
    live: LiveAPI, sg_admin: Actor, smtp_server: Any
) -> None:
    mail = smtp_server(tls="none")
    configure(mail)
    got = live.data(ops.SRC_USERS_CREATE, sg_admin.token, username="bob", email="bob@example.com")
    url = got["createUser"]["resetPasswordURL"]
    assert url.startswith(f"{EXTERNAL_URL}/password-reset?userID=")
    # "Users created through GraphQL or the src CLI assume the email provided is verified."
    assert UserEmail.objects.get(email="bob@example.com").verified
    [msg] = received(mail, 1)
    assert msg["To"] == "bob@example.com"
    assert url.endswith(link_in(msg, "/password-reset"))


def test_src_users_count_then_delete(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    assert live.data(ops.SRC_USERS_COUNT, sg_admin.token) == {"users": {"totalCount": 2}}
    got = live.data(ops.SRC_USERS_DELETE, sg_admin.token, user=sg_user.id)
    assert got == {"deleteUser": {"alwaysNil": None}}
    assert live.data(ops.SRC_USERS_COUNT, sg_admin.token) == {"users": {"totalCount": 1}}
    # Soft: the row stays and shows as deleted; the user's token stops working.
    assert User.all_objects.get(pk=sg_user.user.pk).deleted_at is not None
    assert (
        live.http.post(
            "/.api/graphql",
            json={"query": ops.SRC_PRUNE_CURRENT_USER},
            headers={"Authorization": f"token {sg_user.token}"},
        ).status_code
        == 401
    )


def test_src_users_count_refused_for_non_admins(live: LiveAPI, sg_user: Actor) -> None:
    assert live.error(ops.SRC_USERS_COUNT, sg_user.token) == "must be site admin"


def test_src_users_get_by_username_and_by_verified_email(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    org = orgs.create(sg_user.user, "acme", "Acme")
    expected = _user_fields(
        sg_user.user, orgs=[{"id": to_base64("Org", org.pk), "name": "acme", "displayName": "Acme"}]
    )
    assert live.data(ops.SRC_USERS_GET, sg_admin.token, username="alice") == {"user": expected}
    by_email = live.data(ops.SRC_USERS_GET, sg_user.token, email="ALICE@example.com")
    assert by_email == {"user": expected}
    assert live.data(ops.SRC_USERS_GET, sg_admin.token, username="nobody") == {"user": None}
    both = live.error(ops.SRC_USERS_GET, sg_admin.token, username="a", email="a@example.com")
    assert both == "exactly one of username and email is required"


def test_src_users_get_does_not_show_another_users_emails(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    body = live(ops.SRC_USERS_GET, sg_user.token, username="root")
    assert body["errors"][0]["message"] == "must be authenticated as the user or as a site admin"
    assert body["errors"][0]["path"] == ["user", "emails"]


def test_src_users_list_with_query_and_tag(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    make_actor("alicia")
    got = live.data(ops.SRC_USERS_LIST, sg_admin.token, first=1000, query="ali")
    assert [u["username"] for u in got["users"]["nodes"]] == ["alice", "alicia"]
    assert got["users"]["nodes"][0] == _user_fields(sg_user.user)
    first = live.data(ops.SRC_USERS_LIST, sg_admin.token, first=1, query=None)
    assert [u["username"] for u in first["users"]["nodes"]] == ["root"]
    tagged = live.data(ops.SRC_USERS_LIST_TAG, sg_admin.token, first=10, query=None, tag="foo")
    assert tagged == {"users": {"nodes": []}}  # sitemail tags no one


def test_src_users_prune_reads_current_user_totals_and_pages(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    assert live.data(ops.SRC_PRUNE_CURRENT_USER, sg_admin.token) == {
        "currentUser": {"username": "root"}
    }
    make_actor("carol")
    live.data(ops.SRC_USERS_DELETE, sg_admin.token, user=sg_user.id)
    assert live.data(ops.SRC_PRUNE_TOTAL, sg_admin.token) == {"site": {"users": {"totalCount": 3}}}
    page = live.data(ops.SRC_PRUNE_INACTIVE, sg_admin.token, limit=2, offset=1)
    nodes = page["site"]["users"]["nodes"]
    assert [n["username"] for n in nodes] == ["alice", "carol"]
    alice, carol = nodes
    assert alice["email"] == "alice@example.com" and alice["deletedAt"] is not None
    assert carol["deletedAt"] is None and carol["siteAdmin"] is False
    assert set(carol) == {"id", "username", "email", "siteAdmin", "lastActiveAt", "deletedAt"}


def test_web_users_page(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    orgs.create(sg_user.user, "acme")
    got = live.data(ops.WEB_USERS, sg_admin.token, first=50, query="alice")
    [node] = got["users"]["nodes"]
    assert got["users"]["totalCount"] == 1
    assert node["emails"] == [
        {
            "email": "alice@example.com",
            "verified": True,
            "verificationPending": False,
            "viewerCanManuallyVerify": True,
            "isPrimary": True,
        }
    ]
    assert node["organizations"] == {"nodes": [{"name": "acme"}]}
    assert node["tags"] == [] and node["siteAdmin"] is False and node["createdAt"]


def test_web_create_user_without_email(live: LiveAPI, sg_admin: Actor) -> None:
    got = live.data(ops.WEB_CREATE_USER, sg_admin.token, username="nomail", email=None)
    assert got["createUser"]["resetPasswordURL"].startswith(f"{EXTERNAL_URL}/password-reset")
    assert not UserEmail.objects.filter(user__username="nomail").exists()


def test_web_set_user_is_site_admin(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    got = live.data(
        ops.WEB_SET_USER_IS_SITE_ADMIN, sg_admin.token, userID=sg_user.id, siteAdmin=True
    )
    assert got == {"setUserIsSiteAdmin": {"alwaysNil": None}}
    assert User.objects.get(pk=sg_user.user.pk).site_admin
    own = live.error(
        ops.WEB_SET_USER_IS_SITE_ADMIN, sg_admin.token, userID=sg_admin.id, siteAdmin=False
    )
    assert "your own site admin flag" in own
    other = make_actor("eve")
    refused = live.error(
        ops.WEB_SET_USER_IS_SITE_ADMIN, other.token, userID=other.id, siteAdmin=True
    )
    assert refused == "must be site admin"


def test_web_randomize_user_password(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    got = live.data(ops.WEB_RANDOMIZE_USER_PASSWORD, sg_admin.token, user=sg_user.id)
    assert got["randomizeUserPassword"]["resetPasswordURL"].startswith(EXTERNAL_URL)


def test_web_delete_user_soft_then_hard(live: LiveAPI, sg_admin: Actor, sg_user: Actor) -> None:
    got = live.data(ops.WEB_DELETE_USER, sg_admin.token, user=sg_user.id, hard=None)
    assert got == {"deleteUser": {"alwaysNil": None}}
    assert User.all_objects.filter(pk=sg_user.user.pk).exists()
    live.data(ops.WEB_DELETE_USER, sg_admin.token, user=sg_user.id, hard=True)
    assert not User.all_objects.filter(pk=sg_user.user.pk).exists()
    self_delete = live.error(ops.WEB_DELETE_USER, sg_admin.token, user=sg_admin.id, hard=None)
    assert self_delete == "users: you cannot delete your own account"


def test_web_users_management_list_filters_orders_and_pages(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    make_actor("carol")
    live.data(ops.WEB_DELETE_USER, sg_admin.token, user=sg_user.id, hard=None)

    def names(**variables: Any) -> list[str]:
        got = live.data(
            ops.WEB_USERS_MANAGEMENT_LIST, sg_admin.token, limit=25, offset=0, **variables
        )
        return [n["username"] for n in got["site"]["users"]["nodes"]]

    assert names(orderBy="USERNAME", descending=True) == ["root", "carol", "alice"]
    assert names(deletedAt={"empty": True}, orderBy="USERNAME") == ["carol", "root"]
    assert names(deletedAt={"empty": False}) == ["alice"]
    assert names(siteAdmin=True) == ["root"]
    assert names(query="car") == ["carol"]
    assert names(eventsCount={"gte": 1}) == []
    got = live.data(ops.WEB_USERS_MANAGEMENT_LIST, sg_admin.token, limit=1, offset=1)
    users = got["site"]["users"]
    assert users["totalCount"] == 3 and [n["username"] for n in users["nodes"]] == ["alice"]
    assert users["nodes"][0]["eventsCount"] == 0 and users["nodes"][0]["email"]


def test_web_delete_users_recover_then_delete_forever(
    live: LiveAPI, sg_admin: Actor, sg_user: Actor
) -> None:
    carol = make_actor("carol")
    ids = [sg_user.id, carol.id]
    assert live.data(ops.WEB_DELETE_USERS, sg_admin.token, userIDs=ids) == {
        "deleteUsers": {"alwaysNil": None}
    }
    assert not User.objects.filter(pk__in=[sg_user.user.pk, carol.user.pk]).exists()
    live.data(ops.WEB_RECOVER_USERS, sg_admin.token, userIDs=[sg_user.id])
    assert User.objects.filter(pk=sg_user.user.pk).exists()
    again = live.error(ops.WEB_RECOVER_USERS, sg_admin.token, userIDs=[sg_user.id])
    assert again.startswith("userIDs: no deleted user with ID")
    live.data(ops.WEB_DELETE_USERS_FOREVER, sg_admin.token, userIDs=ids)
    assert not User.all_objects.filter(pk__in=[sg_user.user.pk, carol.user.pk]).exists()


def test_web_site_and_update_site_configuration(live: LiveAPI, sg_admin: Actor) -> None:
    site = live.data(ops.WEB_SITE, sg_admin.token)["site"]
    assert site["__typename"] == "Site" and site["id"] and site["canReloadSite"] is False
    config = site["configuration"]
    assert "externalURL" in config["effectiveContents"]
    assert isinstance(config["validationMessages"], list)
    got = live.data(
        ops.WEB_UPDATE_SITE_CONFIGURATION,
        sg_admin.token,
        lastID=config["id"],
        input='{"externalURL": "https://sg.example.org"}',
    )
    assert got == {"updateSiteConfiguration": False}
    stale = live.error(
        ops.WEB_UPDATE_SITE_CONFIGURATION, sg_admin.token, lastID=config["id"], input="{}"
    )
    assert stale.startswith("someone else saved the site configuration first")
