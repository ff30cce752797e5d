"""External sign-in: find the linked account, link by verified email, or sign up.

Accounts from a provider have verified emails (SPEC 4): the provider vouches for the address, so
no verification email is sent. An address the provider does not vouch for is never used to link
or create an account (that would let anyone claim someone else's address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from sitemail.accounts.external.models import ExternalAccount
from sitemail.accounts.external.providers import ExternalAuthError, Provider
from sitemail.accounts.models import User, UserEmail, VerifiedBy
from sitemail.accounts.users import USERNAME_RE, UserError, create_user, normalize_email

UNVERIFIED = (
    "{name} did not report a verified email address for this account; verify your email "
    "there, then sign in again."
)
NO_SIGNUP = (
    "No account here has the email {email}, and sign-up through {name} is not allowed "
    "(auth.providers allowSignup). Ask a site admin to create your account first."
)
TAKEN = "This {name} account is already linked to another user."
NOT_LINKABLE = (
    "An account here already has the email {email}, but that address was not verified by a "
    "link mailed to it or by a site admin, so {name} cannot sign in to it. Sign in to that "
    "account and verify the address, or ask a site admin."
)
# SECURITY: only these prove the inbox; a self-claimed or legacy verification must not hand an
# account to whoever the provider says owns the address (or the other way round).
LINKABLE = (VerifiedBy.LINK, VerifiedBy.ADMIN)


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    account_id: str
    email: str | None
    email_verified: bool
    username: str = ""
    display_name: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def sign_in(provider: Provider, identity: Identity, current: User | None = None) -> User:
    """The user for `identity`, linking or creating as needed. `current` (a signed-in user)
    links the external account to themselves instead of matching by email."""
    with transaction.atomic():
        link = (
            ExternalAccount.objects.select_related("user")
            .filter(
                service_type=provider.type,
                service_id=provider.service_id,
                client_id=provider.client_id,
                account_id=identity.account_id,
            )
            .first()
        )
        if link is not None:
            if current is not None and current.pk != link.user_id:
                raise ExternalAuthError(TAKEN.format(name=provider.display_name))
            link.email, link.data = identity.email or "", identity.data
            link.save(update_fields=["email", "data", "updated_at"])
            return link.user
        user = current or _user_by_email(provider, identity)
        try:
            with transaction.atomic():
                ExternalAccount.objects.create(
                    user=user,
                    service_type=provider.type,
                    service_id=provider.service_id,
                    client_id=provider.client_id,
                    account_id=identity.account_id,
                    email=identity.email or "",
                    data=identity.data,
                )
        except IntegrityError as exc:  # a concurrent first sign-in of the same identity
            raise ExternalAuthError("Sign-in raced with another one; try again.") from exc
    return user


def _user_by_email(provider: Provider, identity: Identity) -> User:
    if not identity.email or not identity.email_verified:
        raise ExternalAuthError(UNVERIFIED.format(name=provider.display_name))
    try:
        address = normalize_email(identity.email)
    except UserError as exc:
        raise ExternalAuthError(str(exc)) from exc
    row = (
        UserEmail.objects.select_related("user")
        .filter(email__iexact=address, verified_at__isnull=False)
        .first()
    )
    if row is not None:
        if row.verified_by not in LINKABLE:
            raise ExternalAuthError(NOT_LINKABLE.format(email=address, name=provider.display_name))
        return row.user
    if not provider.allow_signup:
        raise ExternalAuthError(NO_SIGNUP.format(email=address, name=provider.display_name))
    first = not User.objects.exists()  # like builtin sign-up: the first user is the site admin
    hint = identity.username or address.split("@", 1)[0]
    try:
        return create_user(
            _free_username(hint),
            address,
            verified=True,
            verified_by=VerifiedBy.PROVIDER,
            site_admin=first,
            display_name=identity.display_name[:255],
        )
    except UserError as exc:
        raise ExternalAuthError(str(exc)) from exc


def _free_username(hint: str) -> str:
    """A valid, unused username close to the provider's (GitHub login, OIDC preferred_username)."""
    base = re.sub(r"[^A-Za-z0-9.-]+", "-", hint)
    base = re.sub(r"([.-])[.-]+", r"\1", base).strip(".-")[:200] or "user"
    for n in range(1000):
        candidate = base if n == 0 else f"{base}-{n}"
        if (
            USERNAME_RE.match(candidate)
            and not User.objects.filter(username__iexact=candidate).exists()
        ):
            return candidate
    raise ExternalAuthError("Could not choose a username; ask a site admin to create the account.")
