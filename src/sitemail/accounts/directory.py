"""Finding users: pages of users for site admins, lookups by username or by email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

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
    tag: str | None = None,
) -> paging.Page[User]:
    """`users`: live users, site admins only (the list names every account).

    sitemail sets no tags, so a `tag` filter matches nobody (as an unused tag would).
    """
    require_admin(actor)
    rows = matching(query)
    if tag is not None:
        rows = rows.none()
    return paging.page(_with_relations(rows), first, after)


@dataclass(frozen=True)
class DateRange:
    """SiteUsersDateRangeInput: within [gte, lte]; `empty` means unset; `not` negates."""

    gte: datetime | None = None
    lte: datetime | None = None
    empty: bool | None = None
    negate: bool = False

    def q(self, field: str) -> Q:
        cond = Q()
        if self.empty is not None:
            cond &= Q(**{f"{field}__isnull": self.empty})
        if self.gte is not None:
            cond &= Q(**{f"{field}__gte": self.gte})
        if self.lte is not None:
            cond &= Q(**{f"{field}__lte": self.lte})
        return ~cond if self.negate else cond


@dataclass(frozen=True)
class SiteFilter:
    """site.users(...): Sourcegraph's filters over all users, soft-deleted ones included."""

    query: str | None = None
    site_admin: bool | None = None
    username: str | None = None
    email: str | None = None
    created_at: DateRange | None = None
    last_active_at: DateRange | None = None
    deleted_at: DateRange | None = None
    # eventsCount: every user has 0 events here; False when the asked range excludes 0.
    zero_events_in_range: bool = True

    def rows(self) -> QuerySet[User]:
        rows = matching(self.query, deleted=None)
        if not self.zero_events_in_range:
            return rows.none()
        if self.site_admin is not None:
            rows = rows.filter(site_admin=self.site_admin)
        if self.username:
            rows = rows.filter(username__icontains=self.username)
        if self.email:
            rows = rows.filter(emails__email__icontains=self.email).distinct()
        for field, rng in (
            ("created_at", self.created_at),
            ("last_login", self.last_active_at),
            ("deleted_at", self.deleted_at),
        ):
            if rng is not None:
                rows = rows.filter(rng.q(field))
        return rows


# site.users(...).nodes(orderBy:) columns; EVENTS_COUNT has no column here (always 0).
ORDER = {
    "USERNAME": "username",
    "EMAIL": "primary_email",
    "EVENTS_COUNT": "pk",
    "LAST_ACTIVE_AT": "last_login",
    "CREATED_AT": "created_at",
    "DELETED_AT": "deleted_at",
    "SITE_ADMIN": "site_admin",
}


def window(
    actor: User | None,
    where: SiteFilter,
    limit: int | None,
    offset: int | None,
    order_by: str | None = None,
    descending: bool = False,
) -> list[User]:
    """`site.users.nodes(limit, offset, orderBy, descending)`: offset pages, as Sourcegraph."""
    require_admin(actor)
    n = paging.check_first(limit, 100)
    start = offset or 0
    if start < 0:
        raise UserError(f"offset: must be 0 or more (got {start})")
    column = ORDER.get(order_by or "", "pk")
    ordering = [f"-{column}" if descending else column, "pk"]
    rows = _with_relations(where.rows())
    if column == "primary_email":
        primary = UserEmail.objects.filter(user=OuterRef("pk"), is_primary=True)
        rows = rows.annotate(primary_email=Subquery(primary.values("email")[:1]))
    return list(rows.order_by(*ordering)[start : start + n])


def count(actor: User | None, where: SiteFilter) -> int:
    require_admin(actor)
    return where.rows().count()


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
