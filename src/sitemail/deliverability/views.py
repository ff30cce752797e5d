"""Pages: the one-click unsubscribe link (RFC 8058), undoing it, and the site admin's
suppression list. Thin over unsubscribe.py and suppression.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from sitemail.deliverability import unsubscribe

INVALID = "This unsubscribe link is not valid. Nothing was changed."
USED = "This unsubscribe link was already used. Nothing was changed."


# SECURITY: no CSRF token and no session, by design (RFC 8058 3.1: the mail provider POSTs
# `List-Unsubscribe=One-Click` itself). The signed, single-use token is the authorization,
# and all it can do is turn one notification stream off for the address it names.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def one_click(request: HttpRequest, token: str) -> HttpResponse:
    payload = unsubscribe.read(token)
    context: dict[str, Any] = {"token": token, "error": "", "done": ""}
    if payload is None:
        context["error"] = INVALID
        return render(request, "deliverability/unsubscribe.html", context, status=400)
    context["what"] = unsubscribe.describe(payload["s"])
    context["address"] = payload["a"]
    if request.method == "POST":
        if unsubscribe.apply(token) is None:
            context["error"] = USED
        else:
            context["done"] = f"{payload['a']} will no longer get {context['what']}."
    return render(request, "deliverability/unsubscribe.html", context)


@require_POST
def undo(request: HttpRequest) -> HttpResponse:
    """Turn a stream back on from the Emails settings page (the signed-in user's own)."""
    from sitemail.accounts.models import UserEmail

    user = request.user
    if not getattr(user, "is_authenticated", False):
        return HttpResponseRedirect("/sign-in?next=/user/settings/emails")
    addresses = UserEmail.objects.filter(user_id=int(user.pk or 0)).values_list("email", flat=True)
    raw = request.POST.get("id", "")
    if raw.isdigit():
        unsubscribe.undo(int(raw), addresses)
    return HttpResponseRedirect("/user/settings/emails")


def settings_context(addresses: list[str]) -> dict[str, Any]:
    """What the Emails settings page shows of deliverability: bounce notices per address and
    the notifications turned off (with their undo buttons)."""
    from sitemail.deliverability import suppression

    found = suppression.suppressed(addresses)
    return {
        "bounce_notices": [
            (a, suppression.notice(found[a.lower()])) for a in addresses if a.lower() in found
        ],
        "unsubscriptions": [
            (u.id, u.address, unsubscribe.describe(u.scope), u.created_at)
            for u in unsubscribe.of_addresses(addresses)
        ],
    }
