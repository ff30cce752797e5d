"""Finding users: pages of users for site admins, lookups by username or by email."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from sitemail import paging
from sitemail.accounts.models import User, UserEmail
from sitemail.accounts.users import Forbidden, UserError, require_admin


def _with_relations(rows: QuerySet[User]) -> QuerySet[User]:
    # One query each for every row's emails and organizations, whatever the page size.
    from sitemail.orgs.models import OrganizationMember

    return rows.prefetch_related(
        "emails",
        Prefetch(
            "org_memberships",
            queryset=OrganizationMember.objects.select_related("org").order_by("org__name"),
        ),
    )


def matching(query: str | None, *, deleted: bool | None = False) -> QuerySet[User]:
    """Users whose username, display name or an email contains `query` (case-insensitive)."""
    rows = User.all_objects.all()
    if deleted is not None:
        rows = rows.filter(deleted_at__isnull=not deleted)
    if query:
        text = query.strip()
        rows = rows.filter(
            Q(username__icontains=text)
            | Q(display_name__icontains=text)
            | Q(pk__in=UserEmail.objects.filter(email__icontains=text).values("user_id"))
        )
    return rows


def page(
    actor: User | None,
    first: int | None,
    after: str | None,
    query: str | None = None,
    *,
    deleted: bool | None = False,
) -> paging.Page[User]:
    """`users` / `site.users`: site admins only (the list names every account)."""
    require_admin(actor)
    return paging.page(_with_relations(matching(query, deleted=deleted)), first, after)


def window(
    actor: User | None, limit: int | None, offset: int | None, query: str | None = None
) -> list[User]:
    """`site.users.nodes(limit, offset)`: the offset-paged form, soft-deleted users included."""
    require_admin(actor)
    n = paging.check_first(limit, 50)
    start = offset or 0
    if start < 0:
        raise UserError(f"offset: must be 0 or more (got {start})")
    rows = _with_relations(matching(query, deleted=None)).order_by("pk")
    return list(rows[start : start + n])


def count(actor: User | None, query: str | None = None) -> int:
    require_admin(actor)
    return matching(query, deleted=None).count()


def lookup(actor: User | None, username: str | None, email: str | None) -> User | None:
    """`user(username:)` or `user(email:)` (exactly one), for signed-in callers; None if none."""
    if actor is None:
        raise Forbidden("not authenticated: sign in or send 'Authorization: token <token>'")
    if (username is None) == (email is None):
        raise UserError("exactly one of username and email is required")
    live = _with_relations(User.objects.all())
    if username is not None:
        return live.filter(username__iexact=username[:255]).first()
    # By any of the user's verified emails, as Sourcegraph looks them up.
    owner = UserEmail.objects.filter(email__iexact=(email or "")[:320], verified_at__isnull=False)
    return live.filter(pk__in=owner.values("user_id")).first()


def by_id(actor: User | None, pk: int) -> User | None:
    """node(id:) for a user: any signed-in caller, as `user(username:)`; live users only."""
    if actor is None:
        raise Forbidden("not authenticated: sign in or send 'Authorization: token <token>'")
    return _with_relations(User.objects.filter(pk=pk)).first()
