"""Email kinds: which admin override replaces each one and which context keys are secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Kind:
    """What sitemail knows about one kind beyond its three template files."""

    name: str
    # Context keys whose values must not outlive delivery (reset links, codes): they are
    # replaced in the stored copy of the message once it is sent.
    secrets: frozenset[str] = frozenset()
    # The `email.templates` key whose admin override replaces the built-in templates.
    override: str | None = None
    # A sample context (JSON-safe): used by the tests that render every kind and by previews.
    example: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Notification mail (the person did not just ask for it): not sent to a suppressed
    # address (bounced, complained). Resets, verifications and security mail always go.
    notification: bool = False
    # Internal kinds (Django's own send_mail) have no template of their own to preview.
    internal: bool = False

    @property
    def title(self) -> str:
        """The kind in words, for the email log and the previews."""
        return TITLES.get(self.name) or self.name.replace("_", " ").capitalize()


TITLES = {
    "test_email": "Test email",
    "django": "Other (Django send_mail)",
    "reset_password": "Password reset",
    "set_password": "Set password (new account)",
    "verify_email": "Email verification",
    "account_locked": "Account locked (unlock link)",
    "account_update": "Account update",
    "access_token_created": "Access token created",
    "access_token_deleted": "Access token deleted",
    "org_invitation": "Organization invitation",
    "instance_invitation": "Invitation to the site",
    "code_monitor": "Code monitor notification",
}


_REGISTRY: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add or replace a kind's entry (a kind without one is a plain kind with no secrets)."""
    _REGISTRY[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Kind:
    return _REGISTRY.get(name) or Kind(name)


def previewable_kinds() -> list[str]:
    """Kinds a site admin may see previewed: every template set but internal ones."""
    return [name for name in builtin_kinds() if not get(name).internal]


def builtin_kinds() -> list[str]:
    """Kinds that ship a template set (found by their `<kind>.subject.txt`)."""
    root = resources.files("sitemail.mail") / "templates"
    suffix = ".subject.txt"
    return sorted(
        p.name[: -len(suffix)]
        for p in root.iterdir()
        if p.name.endswith(suffix) and not p.name.startswith("_")
    )


register(Kind("test_email", example={"test_id": "a1b2c"}))
register(
    Kind("django", example={"subject": "Hello", "body": "Line one\n\nLine <two>"}, internal=True)
)
# Sourcegraph's `email.templates` keys; their variables are Host, Username and URL.
_RESET_EXAMPLE = {
    "username": "alice",
    "url": "https://sourcegraph.example.com/password-reset?code=x",
}
register(
    Kind(
        "reset_password",
        secrets=frozenset({"url"}),
        override="resetPassword",
        example=_RESET_EXAMPLE,
    )
)
register(
    Kind("set_password", secrets=frozenset({"url"}), override="setPassword", example=_RESET_EXAMPLE)
)
# Account emails (sitemail.accounts): links carry codes, so `url` is secret in every kind with one.
register(
    Kind(
        "verify_email",
        secrets=frozenset({"url"}),
        example={
            "username": "alice",
            "email": "alice@example.com",
            "url": "https://sourcegraph.example.com/-/verify-email?code=x",
        },
    )
)
register(
    Kind(
        "account_locked",
        secrets=frozenset({"url"}),
        example={
            "username": "alice",
            "url": "https://sourcegraph.example.com/-/unlock-account?token=x",
        },
    )
)
register(
    Kind(
        "account_update",
        notification=True,
        example={"username": "alice", "message": "The email address bob@example.com was added."},
    )
)
_TOKEN_EXAMPLE = {"username": "alice", "note": "CI", "scopes": "user:all"}
register(
    Kind(
        "access_token_created",
        notification=True,
        example={**_TOKEN_EXAMPLE, "expires": "2027-01-01 00:00 UTC"},
    )
)
register(Kind("access_token_deleted", notification=True, example=_TOKEN_EXAMPLE))
# Organization and instance invitations (sitemail.orgs): the org invitation link is a bearer token.
register(
    Kind(
        "org_invitation",
        secrets=frozenset({"url"}),
        notification=True,
        example={
            "inviter": "Alice Smith",
            "inviter_username": "alice",
            "org": "Acme <Engineering>",
            "org_name": "acme",
            "url": "https://sourcegraph.example.com/organizations/invitation/x",
            "expires": "2026-01-03 12:00 UTC",
            "expiry_hours": 48,
        },
    )
)
register(
    Kind(
        "instance_invitation",
        notification=True,
        example={
            "inviter": "Alice Smith",
            "inviter_username": "alice",
            "url": "https://sourcegraph.example.com/sign-up",
        },
    )
)
