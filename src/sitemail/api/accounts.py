"""GraphQL: user emails, verification, passwords, admin-created users and access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from sitemail.accounts import emails, lifecycle, passwords, tokens
from sitemail.accounts.models import User as UserModel
from sitemail.accounts.provisioning import admin_create_user
from sitemail.accounts.users import UserError, get_by_id
from sitemail.api.common import EmptyResponse, decode_id, node_id
from sitemail.api.common import run as _run
from sitemail.api.context import Info
from sitemail.api.users import User


@strawberry.type
class CreateUserResult:
    user: User
    reset_password_url: str | None = strawberry.field(name="resetPasswordURL")


@strawberry.type
class RandomizeUserPasswordResult:
    reset_password_url: str | None = strawberry.field(name="resetPasswordURL")
    email_sent: bool


@strawberry.type
class CreateAccessTokenResult:
    id: strawberry.ID
    token: str


def _user(user_id: str) -> UserModel:
    return get_by_id(decode_id("User", user_id))


UserArg = Annotated[strawberry.ID, strawberry.argument(name="user")]
UserIDArg = Annotated[strawberry.ID, strawberry.argument(name="userID")]
UserIDsArg = Annotated[list[strawberry.ID], strawberry.argument(name="userIDs")]


def _pks(ids: list[strawberry.ID]) -> list[int]:
    return [decode_id("User", i) for i in ids]


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(description="Add an unverified email and send a verification email.")
    async def add_user_email(self, info: Info, user: UserArg, email: str) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: emails.add(actor, _user(user), email))
        return EmptyResponse()

    @strawberry.mutation(description="Remove a (non-primary) email.")
    async def remove_user_email(self, info: Info, user: UserArg, email: str) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: emails.remove(actor, _user(user), email))
        return EmptyResponse()

    @strawberry.mutation(description="Make a verified email the primary one.")
    async def set_user_email_primary(self, info: Info, user: UserArg, email: str) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: emails.set_primary(actor, _user(user), email))
        return EmptyResponse()

    @strawberry.mutation(description="Mark an email verified or unverified (site admins).")
    async def set_user_email_verified(
        self, info: Info, user: UserArg, email: str, verified: bool
    ) -> EmptyResponse:
        actor = info.context.require_site_admin()
        await _run(lambda: emails.set_verified(actor, _user(user), email, verified))
        return EmptyResponse()

    @strawberry.mutation(description="Send the verification email again (once a minute).")
    async def resend_verification_email(
        self, info: Info, user: UserArg, email: str
    ) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(lambda: emails.resend(actor, _user(user), email))
        return EmptyResponse()

    @strawberry.mutation(
        description="Create a user (site admins). The email is verified unless verifiedEmail is "
        "false; then a set-password email, whose link also verifies it, is sent."
    )
    async def create_user(
        self,
        info: Info,
        username: str,
        email: str | None = None,
        verified_email: bool | None = None,
    ) -> CreateUserResult:
        actor = info.context.require_site_admin()
        verified = verified_email is not False
        created, url = await _run(
            lambda: admin_create_user(actor, username, email, verified_email=verified)
        )
        return CreateUserResult(user=User.of(created), reset_password_url=url)

    @strawberry.mutation(description="Make the password unusable and return a reset link.")
    async def randomize_user_password(
        self, info: Info, user: UserArg
    ) -> RandomizeUserPasswordResult:
        actor = info.context.require_site_admin()
        url, sent = await _run(lambda: passwords.randomize(actor, _user(user)))
        return RandomizeUserPasswordResult(reset_password_url=url, email_sent=sent)

    @strawberry.mutation(description="Change the caller's own password.")
    async def update_password(
        self,
        info: Info,
        old_password: str,
        new_password: str,
        revoke_access_tokens: Annotated[
            bool,
            strawberry.argument(description="Also revoke all of the caller's access tokens."),
        ] = False,
    ) -> EmptyResponse:
        actor = info.context.require_user()
        await _run(
            lambda: passwords.change(
                actor, old_password, new_password, revoke_tokens=revoke_access_tokens
            )
        )
        return EmptyResponse()

    @strawberry.mutation(description="Create an access token; the secret is returned only here.")
    async def create_access_token(
        self,
        info: Info,
        user: UserArg,
        scopes: list[str],
        note: str,
        expires_at: datetime | None = None,
        duration_seconds: int | None = None,
    ) -> CreateAccessTokenResult:
        actor = info.context.require_user()
        if duration_seconds is not None:
            if expires_at is not None:
                raise UserError("give expiresAt or durationSeconds, not both")
            expires_at = tokens.expiry_after(duration_seconds)
        row, secret = await _run(
            lambda: tokens.issue(actor, _user(user), scopes, note, expires_at=expires_at)
        )
        return CreateAccessTokenResult(id=node_id("AccessToken", row.pk), token=secret)

    @strawberry.mutation(description="Delete an access token by its ID or by its secret.")
    async def delete_access_token(
        self,
        info: Info,
        by_id: Annotated[strawberry.ID | None, strawberry.argument(name="byID")] = None,
        by_token: str | None = None,
    ) -> EmptyResponse:
        actor = info.context.require_user()
        if (by_id is None) == (by_token is None):
            raise UserError("exactly one of byID and byToken is required")

        def delete() -> None:
            if by_id is not None:
                row = tokens.get(decode_id("AccessToken", by_id))
            else:
                row = tokens.find_by_secret(by_token or "")
            tokens.delete(actor, row)

        await _run(delete)
        return EmptyResponse()

    @strawberry.mutation(
        description="Delete a user (site admins): soft by default (recoverUsers undoes it), "
        "for good with hard: true."
    )
    async def delete_user(
        self, info: Info, user: UserArg, hard: bool | None = None
    ) -> EmptyResponse | None:
        actor = info.context.require_site_admin()
        await _run(lambda: lifecycle.delete(actor, _pks([user]), hard=bool(hard)))
        return EmptyResponse()

    @strawberry.mutation(description="Delete several users at once (site admins), as deleteUser.")
    async def delete_users(
        self, info: Info, users: list[strawberry.ID], hard: bool | None = None
    ) -> EmptyResponse | None:
        actor = info.context.require_site_admin()
        await _run(lambda: lifecycle.delete(actor, _pks(users), hard=bool(hard)))
        return EmptyResponse()

    @strawberry.mutation(description="Restore soft-deleted users (site admins).")
    async def recover_users(self, info: Info, user_ids: UserIDsArg) -> EmptyResponse | None:
        actor = info.context.require_site_admin()
        await _run(lambda: lifecycle.recover(actor, _pks(user_ids)))
        return EmptyResponse()

    @strawberry.mutation(description="Grant or revoke site admin (site admins; never oneself).")
    async def set_user_is_site_admin(
        self, info: Info, user_id: UserIDArg, site_admin: bool
    ) -> EmptyResponse | None:
        actor = info.context.require_site_admin()
        await _run(lambda: lifecycle.set_site_admin(actor, _user(user_id), site_admin))
        return EmptyResponse()
