"""OpenID Connect sign-in against a real provider built from authlib's server components."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.test import Client

from sitemail.accounts.external.models import ExternalAccount
from sitemail.accounts.external.providers import configured
from sitemail.accounts.models import User, UserEmail
from tests.accounts.conftest import PASSWORD, configure, deliver, make_user
from tests.external_auth.conftest import external_sign_in, signed_in_as
from tests.external_auth.peers import OIDCProvider

pytestmark = pytest.mark.django_db(transaction=True)

BUILTIN = {"type": "builtin", "allowSignup": True}


def person(sub: str, email: str, verified: bool = True, **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "email": email, "email_verified": verified, **extra}


def use(mail: Any, oidc: OIDCProvider, **options: Any) -> None:
    configure(mail, **{"auth.providers": [BUILTIN, oidc.site_config(**options)]})


def test_new_user_signs_up_with_a_verified_email_and_no_mail(mail: Any, oidc: OIDCProvider) -> None:
    make_user("admin", site_admin=True)
    use(mail, oidc)
    oidc.user = person("u-1", "Carol@Example.org", preferred_username="carol", name="Carol C")
    client = Client()
    response = external_sign_in(client, "openidconnect")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "carol"
    carol = User.objects.get(username="carol")
    assert carol.display_name == "Carol C" and not carol.site_admin
    [email] = UserEmail.objects.filter(user=carol)
    assert email.email == "Carol@example.org" and email.verified and email.is_primary
    assert deliver() == 0 and mail.messages == []  # no verification email
    # The next sign-in finds the linked account, even after the address changed there.
    oidc.user = person("u-1", "carol@elsewhere.example", preferred_username="carol")
    again = Client()
    assert external_sign_in(again, "openidconnect").status_code == 302
    assert signed_in_as(again) == "carol" and User.objects.count() == 2


def test_links_to_the_user_who_has_that_verified_email(mail: Any, oidc: OIDCProvider) -> None:
    bob = make_user("bob")
    use(mail, oidc)
    oidc.user = person("u-bob", "bob@example.com", preferred_username="robert")
    client = Client()
    assert external_sign_in(client, "openidconnect").status_code == 302
    assert signed_in_as(client) == "bob" and User.objects.count() == 1
    [link] = ExternalAccount.objects.all()
    assert (link.user_id, link.service_type, link.account_id) == (bob.pk, "openidconnect", "u-bob")
    assert link.service_id == oidc.issuer


def test_unverified_email_neither_links_nor_signs_up(mail: Any, oidc: OIDCProvider) -> None:
    make_user("dan")
    use(mail, oidc)
    for address in ("dan@example.com", "newbie@example.com"):
        oidc.user = person(f"u-{address}", address, verified=False)
        client = Client()
        response = external_sign_in(client, "openidconnect")
        assert response.status_code == 401
        assert b"did not report a verified email address" in response.content
        assert signed_in_as(client) is None
    assert ExternalAccount.objects.count() == 0 and User.objects.count() == 1


def test_require_email_domain(mail: Any, oidc: OIDCProvider) -> None:
    use(mail, oidc, requireEmailDomain="corp.example")
    oidc.user = person("u-out", "eve@example.com", preferred_username="eve")
    refused = external_sign_in(Client(), "openidconnect")
    assert refused.status_code == 401
    assert b"restricted to email addresses at corp.example" in refused.content
    oidc.user = person("u-in", "fay@CORP.example", preferred_username="fay")
    client = Client()
    assert external_sign_in(client, "openidconnect").status_code == 302
    assert signed_in_as(client) == "fay"
    assert list(User.objects.values_list("username", flat=True)) == ["fay"]


def test_tampered_id_token_is_refused(mail: Any, oidc: OIDCProvider) -> None:
    admin = make_user("admin", site_admin=True)
    use(mail, oidc)
    oidc.user = person("u-mallory", "mallory@example.net")
    oidc.tamper_id_token = True  # claims "admin@example.com", signature of the real claims
    client = Client()
    response = external_sign_in(client, "openidconnect")
    assert response.status_code == 401
    assert b"The ID token from the OpenID Connect provider is invalid" in response.content
    assert signed_in_as(client) is None
    assert ExternalAccount.objects.count() == 0
    assert list(User.objects.all()) == [admin]


def test_callback_without_a_started_sign_in_is_refused(mail: Any, oidc: OIDCProvider) -> None:
    use(mail, oidc)
    oidc.user = person("u-gil", "gil@example.com")
    # Login CSRF: a callback URL from someone else's browser carries a state this one lacks.
    victim = Client()
    attacker = Client()
    start = attacker.get(f"/.auth/openidconnect/login?pc={_key(oidc)}")
    callback = httpx.get(start["Location"]).headers["Location"]
    response = victim.get(callback.removeprefix("https://sg.example.com"))
    assert response.status_code == 401 and b"was not started here" in response.content
    assert signed_in_as(victim) is None and User.objects.count() == 0


def test_sign_up_off_refuses_new_addresses(mail: Any, oidc: OIDCProvider) -> None:
    make_user("hal")
    use(mail, oidc, allowSignup=False)
    oidc.user = person("u-new", "ida@example.com")
    refused = external_sign_in(Client(), "openidconnect")
    assert refused.status_code == 401 and b"sign-up through OpenID Connect is not allowed" in (
        refused.content
    )
    oidc.user = person("u-hal", "hal@example.com")
    client = Client()
    assert external_sign_in(client, "openidconnect").status_code == 302  # linking still works
    assert signed_in_as(client) == "hal" and User.objects.count() == 1


def _key(oidc: OIDCProvider) -> str:
    [provider] = configured()
    assert provider.service_id == oidc.issuer
    return provider.key


def test_signed_in_user_links_an_account_once(mail: Any, oidc: OIDCProvider) -> None:
    make_user("ann")
    make_user("ben")
    use(mail, oidc)
    oidc.user = person("u-shared", "shared@idp.example", verified=False)
    ann = Client()
    assert ann.post("/sign-in", {"username": "ann", "password": PASSWORD}).status_code == 302
    assert external_sign_in(ann, "openidconnect").status_code == 302  # her own session vouches
    assert ExternalAccount.objects.get().user.username == "ann"
    ben = Client()
    assert ben.post("/sign-in", {"username": "ben", "password": PASSWORD}).status_code == 302
    taken = external_sign_in(ben, "openidconnect")
    assert taken.status_code == 401 and b"already linked to another user" in taken.content
    assert ExternalAccount.objects.get().user.username == "ann"
