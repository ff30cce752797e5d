"""The site admin's page for bounces: 7-day rates, webhook URLs to paste, the suppression list
(reason, date, reply) with removal."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sitemail.accounts.gates import site_admin_required
from sitemail.admin import status
from sitemail.deliverability import rates, suppression
from sitemail.deliverability.config import bounce_settings, webhook_urls
from sitemail.deliverability.models import Suppression
from sitemail.siteconfig import service as siteconfig

PAGE = 200


@site_admin_required
def suppressions(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        address = request.POST.get("address", "")[:320]
        if address:
            suppression.clear(address)
        return HttpResponseRedirect(f"/site-admin/suppressions?removed={address}")
    settings = siteconfig.get_settings()
    query = request.GET.get("q", "").strip().lower()[:320]
    rows = Suppression.objects.filter(suppressed_at__isnull=False).order_by("-suppressed_at")
    if query:
        rows = rows.filter(address__contains=query)
    context = {
        "active": "suppressions",
        "banners": status.banners(),
        "user": request.user,
        "rows": list(rows[:PAGE]),
        "total": rows.count(),
        "q": query,
        "removed": request.GET.get("removed", "")[:320],
        "rates": rates.last_7_days(),
        "webhooks": webhook_urls(settings),
        "bounces": bounce_settings(settings),
    }
    return render(request, "deliverability/suppressions.html", context)
