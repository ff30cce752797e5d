"""Audit finding 5: email.userLimits caps the mail users can make the site send.

Through GraphQL and the sign-up endpoint, with a real SMTP server receiving what is sent; the
refusals are clear errors, listed on the email log page and counted on /metrics.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from sitemail.api.users import node_id
from tests.accounts.conftest import (
    PASSWORD,
    configure,
    error_of,
    make_user,
    post_json,
    received,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

INVITE_SG = "mutation($e: String!) { inviteEmailToSourcegraph(email: $e) { alwaysNil } }"
ADD = "mutation($u: ID!, $e: String!) { addUserEmail(user: $u, email: $e) { alwaysNil } }"
LIMITS = {"perUserPerHour": 3, "anonymousPerHour": 2, "perSitePerHour": 8}


def _admin_client(admin: Any) -> Client:
    client = Client()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_per_user_anonymous_and_site_limits(mail: Any, gql: Any) -> None:
    configure(mail, **{"email.userLimits": LIMITS})
    admin = make_user("admin", site_admin=True)
    mallory = make_user("mallory")
    token = token_for(mallory)
    # +tag variants are different addresses, but the same user's budget.
    for n in range(3):
        assert "errors" not in gql(INVITE_SG, token, e=f"target+{n}@example.com")
    refused = error_of(gql(INVITE_SG, token, e="target+3@example.com"))
    assert "Too many emails" in refused and "email.userLimits.perUserPerHour" in refused
    refused = error_of(gql(ADD, token, u=node_id("User", mallory.pk), e="more@example.com"))
    assert "email.userLimits.perUserPerHour" in refused

    # Anonymous sign-ups share one budget.
    codes = [
        post_json(
            Client(),
            "/-/sign-up",
            {"username": f"s{n}", "email": f"s{n}@example.com", "password": PASSWORD},
        )
        for n in range(3)
    ]
    assert [c.status_code for c in codes[:2]] == [200, 200]
    assert codes[2].status_code >= 400 and b"email.userLimits.anonymousPerHour" in codes[2].content

    # Other users still have their own budget, until the site's is spent (3 + 2 + 3 = 8).
    others = [token_for(make_user(f"user{n}")) for n in range(2)]
    for n in range(3):
        assert "errors" not in gql(INVITE_SG, others[0], e=f"friend+{n}@example.com")
    site = error_of(gql(INVITE_SG, others[1], e="friend@example.com"))
    assert "email.userLimits.perSitePerHour" in site
    # Site admins are not limited.
    assert "errors" not in gql(INVITE_SG, token_for(admin), e="admin-invite@example.com")
    assert len(received(mail, 3 + 2 + 3 + 1)) == 9

    client = _admin_client(admin)
    page = client.get("/site-admin/email-log").content.decode()
    assert "Refused by email.userLimits" in page and "mallory" in page
    metrics = client.get("/metrics").content.decode()
    counts = dict(
        re.findall(r'sitemail_email_user_limit_refusals_total\{limit="(\w+)"\} (\S+)', metrics)
    )
    assert float(counts["perUserPerHour"]) == 2.0, metrics
    assert float(counts["anonymousPerHour"]) == 1.0 and float(counts["perSitePerHour"]) == 1.0
