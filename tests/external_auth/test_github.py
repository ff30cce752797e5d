"""GitHub sign-in against a LOCAL STAND-IN for GitHub (github.com is unreachable here).

The stand-in (tests/external_auth/peers.py GitHubStandIn) implements GitHub's documented OAuth
web flow and the /user, /user/emails and /user/orgs endpoints, as GitHub Enterprise serves them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.external.models import ExternalAccount
from sitemail.accounts.models import User, UserEmail
from tests.accounts.conftest import configure, deliver, make_user
from tests.external_auth.conftest import external_sign_in, signed_in_as
from tests.external_auth.peers import GitHubStandIn

pytestmark = pytest.mark.django_db(transaction=True)

BUILTIN = {"type": "builtin", "allowSignup": False}


def use(mail: Any, github: GitHubStandIn, **options: Any) -> None:
    configure(mail, **{"auth.providers": [BUILTIN, github.site_config(**options)]})


def address(email: str, *, primary: bool = False, verified: bool = True) -> dict[str, Any]:
    return {"email": email, "primary": primary, "verified": verified, "visibility": None}


def test_sign_up_uses_the_primary_verified_email(mail: Any, github: GitHubStandIn) -> None:
    make_user("admin", site_admin=True)
    use(mail, github, allowSignup=True)
    github.user = {"id": 583231, "login": "octocat", "name": "The Octocat"}
    github.emails = [
        address("octo@old.example", verified=True),
        address("octocat@github.example", primary=True),
    ]
    client = Client()
    response = external_sign_in(client, "github")
    assert response.status_code == 302 and signed_in_as(client) == "octocat"
    octo = User.objects.get(username="octocat")
    [email] = UserEmail.objects.filter(user=octo)
    assert (email.email, email.verified, email.is_primary) == ("octocat@github.example", True, True)
    link = ExternalAccount.objects.get(user=octo)
    assert (link.service_type, link.service_id, link.account_id) == ("github", github.url, "583231")
    assert github.scopes == ["user:email"]
    assert deliver() == 0 and mail.messages == []


def test_primary_email_not_verified_is_refused(mail: Any, github: GitHubStandIn) -> None:
    make_user("jo")
    use(mail, github, allowSignup=True)
    github.emails = [
        address("jo@example.com", primary=True, verified=False),
        address("other@example.com", verified=True),
    ]
    client = Client()
    response = external_sign_in(client, "github")
    assert response.status_code == 401 and b"did not report a verified email" in response.content
    assert signed_in_as(client) is None and ExternalAccount.objects.count() == 0


def test_sign_up_is_off_by_default_but_linking_works(mail: Any, github: GitHubStandIn) -> None:
    make_user("kim")
    use(mail, github)
    github.emails = [address("stranger@example.com", primary=True)]
    refused = external_sign_in(Client(), "github")
    assert (
        refused.status_code == 401 and b"sign-up through GitHub is not allowed" in refused.content
    )
    github.user = {"id": 7, "login": "kim-gh"}
    github.emails = [address("kim@example.com", primary=True)]
    client = Client()
    assert external_sign_in(client, "github").status_code == 302
    assert signed_in_as(client) == "kim" and User.objects.count() == 1


def test_allow_orgs(mail: Any, github: GitHubStandIn) -> None:
    make_user("lou")
    use(mail, github, allowOrgs=["Acme"])
    github.emails = [address("lou@example.com", primary=True)]
    github.orgs = [{"login": "other-org", "id": 2}]
    refused = external_sign_in(Client(), "github")
    assert refused.status_code == 401 and b"not a member of an organization allowed" in (
        refused.content
    )
    github.orgs.append({"login": "acme", "id": 3})
    client = Client()
    assert external_sign_in(client, "github").status_code == 302
    assert signed_in_as(client) == "lou"
    assert github.scopes == ["user:email read:org"] * 2


def test_wrong_client_secret_fails_the_token_exchange(mail: Any, github: GitHubStandIn) -> None:
    make_user("mo")
    configure(
        mail,
        **{"auth.providers": [BUILTIN, {**github.site_config(), "clientSecret": "wrong"}]},
    )
    github.emails = [address("mo@example.com", primary=True)]
    client = Client()
    response = external_sign_in(client, "github")
    assert response.status_code == 401 and b"incorrect_client_credentials" in response.content
    assert signed_in_as(client) is None
