"""Organization invitations: signed links, the invitation email, accept/reject, revoke, resend.

A link is `<externalURL>/organizations/invitation/<token>`; the token is the invitation id signed
with `organizationInvitations.signingKey` (Django signing, own salt). Without a signing key no
invitation is created, with an error naming the key (Sourcegraph behaves the same), so rotating
SECRET_KEY never silently breaks or forges links. Expiry is kept on the row (`expires_at`) and
checked when the link is used; a resend starts a new expiry period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.db import transaction
from django.utils import timezone

from sitemail.accounts import emails as email_service
from sitemail.accounts import notify
from sitemail.accounts.models import User, UserEmail
from sitemail.accounts.users import Forbidden, UserError, get_by_username, normalize_email
from sitemail.orgs import service
from sitemail.orgs.models import Organization, OrganizationInvitation
from sitemail.siteconfig import service as siteconfig

SALT = "sitemail.orgs.invitation"
NO_SIGNING_KEY = (
    "signing key not provided, cannot create or check organization invitation links: set "
    "organizationInvitations.signingKey in the site configuration"
)
UNVERIFIED = "cannot invite user because their primary email address is not verified"
INVALID_TOKEN = (
    "invalid organization invitation link (tampered, truncated or signed with an old key)"
)
NOT_YOURS = "this invitation is for another user: sign in as the user it was sent to"
ACCEPT, REJECT = "ACCEPT", "REJECT"


class InvitationError(UserError):
    """The invitation cannot be used (revoked, already responded, expired, not yours)."""


@dataclass(frozen=True)
class InviteResult:
    invitation: OrganizationInvitation
    sent_email: bool
    url: str


def _signing_key() -> str:
    key = siteconfig.get_settings().organization_invitations.signing_key
    if not key:
        raise UserError(NO_SIGNING_KEY)
    return key


def token_for(invitation: OrganizationInvitation) -> str:
    return signing.dumps({"i": invitation.pk}, key=_signing_key(), salt=SALT)


def url_for(invitation: OrganizationInvitation) -> str:
    base = siteconfig.get_settings().external_url.rstrip("/")
    return f"{base}/organizations/invitation/{token_for(invitation)}"


def _expiry(now: datetime) -> datetime:
    return now + timedelta(hours=siteconfig.get_settings().organization_invitations.expiry_hours)


def _pending(org: Organization, *, user: User | None = None, email: str = "") -> bool:
    rows = OrganizationInvitation.objects.filter(
        org=org, responded_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    rows = (
        rows.filter(recipient=user)
        if user is not None
        else rows.filter(recipient_email__iexact=email)
    )
    return rows.exists()


def _notify(invitation: OrganizationInvitation, to: str) -> bool:
    """Enqueue the invitation email in the caller's transaction; True if it will be delivered."""
    expires = invitation.expires_at
    sent = notify.send(
        "org_invitation",
        to,
        {
            "inviter": invitation.sender.display,
            "inviter_username": invitation.sender.username,
            "org": invitation.org.display,
            "org_name": invitation.org.name,
            "url": url_for(invitation),
            "expires": expires.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "expiry_hours": siteconfig.get_settings().organization_invitations.expiry_hours,
        },
    )
    if sent:
        invitation.notified_at = timezone.now()
        invitation.save(update_fields=["notified_at"])
    return sent


def invite(
    actor: User | None,
    org: Organization,
    *,
    username: str | None = None,
    email: str | None = None,
) -> InviteResult:
    """inviteUserToOrganization: members and site admins invite a user or an address."""
    if (username is None) == (email is None):
        raise UserError("exactly one of username and email is required")
    actor = service.require_member_or_admin(actor, org)
    _signing_key()  # fail before anything is written
    email_on = notify.email_enabled()
    with transaction.atomic():
        recipient: User | None = None
        address = ""
        if username is not None:
            recipient = get_by_username(username)
            if service.is_member(org, recipient):
                raise UserError(f"user {recipient.username!r} is already a member of {org.name!r}")
            address = notify.primary_address(recipient) or ""
            if email_on and not address:
                raise UserError(UNVERIFIED)
            if _pending(org, user=recipient):
                raise UserError(
                    f"user {recipient.username!r} already has a pending invitation to "
                    f"{org.name!r}; use resendOrganizationInvitationNotification"
                )
        else:
            address = normalize_email(email or "").lower()
            if _pending(org, email=address):
                raise UserError(
                    f"{address} already has a pending invitation to {org.name!r}; use "
                    "resendOrganizationInvitationNotification"
                )
        now = timezone.now()
        invitation = OrganizationInvitation.objects.create(
            org=org,
            sender=actor,
            recipient=recipient,
            recipient_email="" if recipient is not None else address,
            expires_at=_expiry(now),
        )
        sent = bool(address) and email_on and _notify(invitation, address)
        return InviteResult(invitation, sent, url_for(invitation))


def get(invitation_id: int) -> OrganizationInvitation:
    row = (
        OrganizationInvitation.objects.select_related("org", "sender", "recipient")
        .filter(pk=invitation_id)
        .first()
    )
    if row is None:
        raise InvitationError(f"organization invitation {invitation_id} not found")
    return row


def decode(token: str) -> OrganizationInvitation:
    """The invitation a link points at; InvitationError for a tampered or foreign token."""
    key = _signing_key()
    try:
        payload = signing.loads(token[:500], key=key, salt=SALT)
        invitation_id = int(payload["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvitationError(INVALID_TOKEN) from exc
    return get(invitation_id)


def check_usable(invitation: OrganizationInvitation, now: datetime | None = None) -> None:
    """Refuse an invitation that was revoked, already answered or has expired, saying which."""
    now = now or timezone.now()
    if invitation.revoked_at is not None:
        raise InvitationError("This invitation was revoked and can no longer be used.")
    if invitation.response == ACCEPT:
        raise InvitationError("This invitation was already accepted.")
    if invitation.response == REJECT:
        raise InvitationError("This invitation was already declined.")
    if invitation.expires_at <= now:
        raise InvitationError(
            "This invitation expired on "
            f"{invitation.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
            "ask for a new one."
        )


def _address_row(invitation: OrganizationInvitation, user: User) -> UserEmail | None:
    return UserEmail.objects.filter(user=user, email__iexact=invitation.recipient_email).first()


def is_recipient(invitation: OrganizationInvitation, user: User, *, has_token: bool) -> bool:
    """An account invitation is for that account; an address invitation for its owner.

    Owning the address means a verified address, or (with the link from that inbox in hand)
    an unverified one: the link proves the inbox, as a verification link does.
    """
    if invitation.recipient_id is not None:
        return bool(invitation.recipient_id == user.pk)
    row = _address_row(invitation, user)
    return row is not None and (row.verified or has_token)


def by_token(actor: User | None, token: str) -> OrganizationInvitation:
    """invitationByToken: the invitation, for its signed-in recipient only, while usable."""
    if actor is None:
        raise Forbidden("not authenticated: sign in first")
    invitation = decode(token)
    if not is_recipient(invitation, actor, has_token=True):
        raise Forbidden(NOT_YOURS)
    check_usable(invitation)
    return invitation


def respond(
    actor: User | None,
    invitation: OrganizationInvitation,
    response: str,
    *,
    has_token: bool = False,
) -> OrganizationInvitation:
    """Accept (join the org) or reject; once only, by the recipient, before expiry."""
    if actor is None:
        raise Forbidden("not authenticated: sign in first")
    if response not in (ACCEPT, REJECT):
        raise UserError("responseType: must be ACCEPT or REJECT")
    with transaction.atomic():
        # Lock the row: two concurrent accepts must not both pass the checks.
        invitation = OrganizationInvitation.objects.select_for_update().get(pk=invitation.pk)
        if not is_recipient(invitation, actor, has_token=has_token):
            raise Forbidden(NOT_YOURS)
        check_usable(invitation)
        invitation.response = response
        invitation.responded_at = timezone.now()
        if invitation.recipient_id is None:
            invitation.recipient = actor
        invitation.save(update_fields=["response", "responded_at", "recipient"])
        if response == ACCEPT:
            if invitation.recipient_email:
                email_service.verify_address_of(actor, invitation.recipient_email)
            service.add_member(invitation.org, actor)
    return get(invitation.pk)


def respond_by_token(actor: User | None, token: str, response: str) -> OrganizationInvitation:
    return respond(actor, decode(token), response, has_token=True)


def pending_for_org(actor: User | None, org: Organization) -> list[OrganizationInvitation]:
    service.require_member_or_admin(actor, org)
    return list(
        OrganizationInvitation.objects.filter(
            org=org,
            responded_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("org", "sender", "recipient")
        .order_by("-created_at")
    )


def _managed(actor: User | None, invitation: OrganizationInvitation) -> None:
    service.require_member_or_admin(actor, invitation.org)
    if invitation.revoked_at is not None or invitation.responded_at is not None:
        check_usable(invitation)


def revoke(actor: User | None, invitation: OrganizationInvitation) -> None:
    """Org members and site admins revoke a pending invitation; its link then grants nothing."""
    with transaction.atomic():
        invitation = OrganizationInvitation.objects.select_for_update().get(pk=invitation.pk)
        _managed(actor, invitation)
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])


def resend(actor: User | None, invitation: OrganizationInvitation) -> bool:
    """Send the email again with a new expiry period; True if it will be delivered."""
    if not notify.email_enabled():
        raise UserError("cannot resend the invitation: email sending is not configured")
    with transaction.atomic():
        invitation = (
            # Lock only the invitation row: PostgreSQL refuses FOR UPDATE on an outer join.
            OrganizationInvitation.objects.select_for_update(of=("self",))
            .select_related("org", "sender", "recipient")
            .get(pk=invitation.pk)
        )
        _managed(actor, invitation)
        if invitation.recipient is not None:
            address = notify.primary_address(invitation.recipient)
            if address is None:
                raise UserError(UNVERIFIED)
        else:
            address = invitation.recipient_email
        invitation.expires_at = _expiry(timezone.now())
        invitation.save(update_fields=["expires_at"])
        return _notify(invitation, address)


def get_for(actor: User | None, invitation_id: int) -> OrganizationInvitation | None:
    """node(id:): the invitation for its recipient, org members and site admins; else None."""
    row = OrganizationInvitation.objects.select_related("org", "sender", "recipient")
    found = row.filter(pk=invitation_id).first()
    if found is None or actor is None:
        return None
    if is_recipient(found, actor, has_token=False):
        return found
    try:
        service.require_member_or_admin(actor, found.org)
    except UserError:
        return None
    return found
