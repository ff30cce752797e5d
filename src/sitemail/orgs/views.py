"""Organization pages: create, members and invitations, and the invitation link page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sitemail.accounts.models import User
from sitemail.accounts.users import Forbidden, UserError, get_by_id
from sitemail.orgs import invitations, service
from sitemail.orgs.models import Organization
from sitemail.web.paging import page_of

View = Callable[..., HttpResponse]


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _signed_in(view: View) -> View:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _user(request) is None:
            return HttpResponseRedirect(f"/sign-in?next={quote(request.path)}")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    return wrapped


def _page(
    request: HttpRequest, name: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(request, f"orgs/{name}.html", context, status=status)


@_signed_in
def new_org(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"name": "", "display_name": "", "error": ""}
    if request.method == "POST":
        context.update(
            name=request.POST.get("name", "")[:300],
            display_name=request.POST.get("display_name", "")[:300],
        )
        try:
            org = service.create(_user(request), context["name"], context["display_name"])
        except UserError as exc:
            context["error"] = str(exc)
            return _page(request, "new", context, 400)
        return HttpResponseRedirect(f"/organizations/{org.name}/members")
    return _page(request, "new", context)


@_signed_in
def org_list(request: HttpRequest) -> HttpResponse:
    """The organizations the user belongs to (a site admin sees every one)."""
    actor = _user(request)
    assert actor is not None
    rows = service.visible_orgs(actor)
    return _page(request, "list", {"pager": page_of(rows, request)})


def _org(name: str) -> Organization:
    """The organization named in the URL; an unknown name is the site's 404 page, like any
    other URL with nothing at it."""
    try:
        return service.get_by_name(name)
    except UserError as exc:
        raise Http404(str(exc)) from exc


@_signed_in
def org_page(request: HttpRequest, name: str) -> HttpResponse:
    org = _org(name)
    return HttpResponseRedirect(f"/organizations/{quote(org.name)}/members")


def _act(request: HttpRequest, actor: User, org: Any) -> str:
    """Run one POSTed action on the members page; returns the message to show."""
    action = request.POST.get("action", "")
    if action == "invite":
        who = request.POST.get("who", "").strip()[:400]
        kwargs = {"email": who} if "@" in who else {"username": who}
        result = invitations.invite(actor, org, **kwargs)
        sent = "An invitation email was sent." if result.sent_email else "No email was sent."
        key = f" {invitations.KEY_GENERATED}" if result.generated_signing_key else ""
        return f"Invited {who}. {sent} Invitation link: {result.url}{key}"
    if action in ("revoke", "resend"):
        row = invitations.get(int(request.POST.get("id", "0") or 0))
        if row.org_id != org.pk:
            raise UserError("invitation not found")
        if action == "revoke":
            invitations.revoke(actor, row)
            return "Revoked the invitation."
        invitations.resend(actor, row)
        return "Sent the invitation again."
    if action == "remove":
        user = get_by_id(request.POST.get("user", ""))
        service.remove_member(actor, org, user)
        return f"Removed {user.username}."
    raise UserError("unknown action")


@_signed_in
def members_page(request: HttpRequest, name: str) -> HttpResponse:
    actor = _user(request)
    assert actor is not None
    context: dict[str, Any] = {"error": "", "message": "", "active": "members"}
    status = 200
    org = context["org"] = _org(name)
    try:
        if request.method == "POST":
            context["message"] = _act(request, actor, org)
        context["members"] = service.members(actor, org)
        context["pending_pager"] = page_of(invitations.pending_for_org(actor, org), request)
    except Forbidden as exc:
        context["error"], status = str(exc), 403
    except UserError as exc:
        context["error"], status = str(exc), 400
        context["members"] = service.members(actor, org)
        context["pending_pager"] = page_of(invitations.pending_for_org(actor, org), request)
    return _page(request, "members", context, status)


def _signed_out_context(request: HttpRequest, token: str) -> dict[str, Any]:
    """What the link shows before sign-in: who invites to which organization, and a sign-up
    link that pre-fills the invited address and comes back here."""
    context: dict[str, Any] = {"signed_out": True, "next": quote(request.path)}
    try:
        row = invitations.decode(token)
    except UserError:
        return context  # a bad link says so after sign-in, as before
    query = {"next": request.path}
    if row.recipient_email:  # an invitation by username names an existing account: sign in
        query["email"] = row.recipient_email
    context.update(invitation=row, sign_up_query=urlencode(query))
    return context


def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation email: sign in first, then accept or decline once."""
    actor = _user(request)
    if actor is None:
        return _page(request, "invitation", _signed_out_context(request, token))
    context: dict[str, Any] = {"error": "", "done": ""}
    status = 200
    try:
        if request.method == "POST":
            response = request.POST.get("response", "")
            row = invitations.respond_by_token(actor, token, response)
            context["done"] = (
                f"You joined {row.org.display}."
                if response == invitations.ACCEPT
                else f"You declined the invitation to {row.org.display}."
            )
            context["invitation"] = row
        else:
            context["invitation"] = invitations.by_token(actor, token)
    except Forbidden as exc:
        context["error"], status = str(exc), 403
    except UserError as exc:
        context["error"], status = (
            str(exc),
            410 if isinstance(exc, invitations.InvitationError) else 400,
        )
    return _page(request, "invitation", context, status)
