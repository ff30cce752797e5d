"""One address rule everywhere (mail/address.py): internal domains are accepted, look-alikes not.

Each interface that takes an address is tried with the same addresses: the site configuration's
email.address, sign-up, addUserEmail, inviteUserToOrganization, inviteEmailToSourcegraph,
sendTestEmail (to a real SMTP server) and the CLI.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sitemail.api.users import node_id
from sitemail.cli import main
from tests.accounts.conftest import PASSWORD, configure, error_of, make_user, post_json, token_for
from tests.orgs.conftest import SIGNING

pytestmark = pytest.mark.django_db(transaction=True)

INTERNAL = ["dev@corp.local", "ci@git.test", "me@host.home.arpa", "admin@intranet"]
LOOK_ALIKES = [
    "=?utf-8?q?=0d=0a?=@example.com",
    "a=?utf-8?b?DQo=?=@example.com",
    "victim@example.com\r\nBcc: x@example.com",
]
CONFIG = "{ site { configuration { id } } }"
UPDATE = "mutation($id: Int!, $in: String!) { updateSiteConfiguration(lastID: $id, input: $in) }"
ADD = "mutation($u: ID!, $e: String!) { addUserEmail(user: $u, email: $e) { alwaysNil } }"
ORG = 'mutation { createOrganization(name: "acme") { id } }'
INVITE = (
    "mutation($o: ID!, $e: String) { inviteUserToOrganization(organization: $o, email: $e) "
    "{ sentInvitationEmail } }"
)
INVITE_SG = "mutation($e: String!) { inviteEmailToSourcegraph(email: $e) { alwaysNil } }"
SEND = "mutation($to: String!) { sendTestEmail(to: $to) }"


def _set_from(gql: Any, token: str, server: Any, address: str) -> Any:
    doc = {
        "externalURL": "https://sg.example.com",
        "email.address": address,
        "email.smtp": server.site_config(),
        "organizationInvitations": SIGNING,
        "auth.providers": [{"type": "builtin", "allowSignup": True}],
    }
    last = gql(CONFIG, token)["data"]["site"]["configuration"]["id"]
    return gql(UPDATE, token, id=last, **{"in": json.dumps(doc)})


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out + err


def test_internal_domains_are_accepted_everywhere(
    mail: Any, gql: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = make_user("admin", site_admin=True)
    token = token_for(admin)
    for n, address in enumerate(INTERNAL):
        assert "errors" not in _set_from(gql, token, mail, address), address
        sign_up = post_json(
            Client(), "/-/sign-up", {"username": f"u{n}", "email": address, "password": PASSWORD}
        )
        assert sign_up.status_code == 200, (address, sign_up.content)
        extra = address.replace("@", "+extra@")
        assert "errors" not in gql(ADD, token, u=node_id("User", admin.pk), e=extra), address
        assert "errors" not in gql(INVITE_SG, token, e=address.replace("@", "+sg@")), address
        sent = gql(SEND, token, to=address)["data"]["sendTestEmail"]
        assert sent.startswith("Sent test email"), (address, sent)
        code, out = _cli(capsys, "users", "create", f"cli{n}", "--email", f"cli{n}.{address}")
        assert code == 0, (address, out)
    org = gql(ORG, token)["data"]["createOrganization"]["id"]
    for address in INTERNAL:
        invited = gql(INVITE, token, o=org, e=address.replace("@", "+org@"))
        assert invited["data"]["inviteUserToOrganization"]["sentInvitationEmail"], address
    received = {tuple(m.rcpt_tos) for m in mail.wait_for(len(INTERNAL))}
    assert {(a,) for a in INTERNAL} <= received


def test_encoded_word_look_alikes_are_refused_everywhere(
    mail: Any, gql: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(mail, organizationInvitations=SIGNING)
    admin = make_user("admin", site_admin=True)
    token = token_for(admin)
    org = gql(ORG, token)["data"]["createOrganization"]["id"]
    for address in LOOK_ALIKES:
        refused = _set_from(gql, token, mail, address)
        assert "errors" in refused and "email.address" in error_of(refused), address
        sign_up = post_json(
            Client(), "/-/sign-up", {"username": "x", "email": address, "password": PASSWORD}
        )
        assert sign_up.status_code == 400 and b"not a valid email address" in sign_up.content
        assert "not a valid email address" in error_of(
            gql(ADD, token, u=node_id("User", admin.pk), e=address)
        )
        assert "not a valid email address" in error_of(gql(INVITE, token, o=org, e=address))
        assert "not a valid email address" in error_of(gql(INVITE_SG, token, e=address))
        sent = gql(SEND, token, to=address)
        assert "successfully" not in json.dumps(sent), (address, sent)
        code, out = _cli(capsys, "users", "create", "y", "--email", address)
        assert code == 1 and "not a valid email address" in out, (address, out)
