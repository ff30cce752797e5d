"""URL routes: pages, the GraphQL endpoint and health."""

from django.urls import include, path

urlpatterns = [
    path("", include("sitemail.accounts.urls")),
    path("", include("sitemail.accounts.external.urls")),
    path("", include("sitemail.web.urls")),
    path("", include("sitemail.api.urls")),
    path("", include("sitemail.admin.urls")),
    path("", include("sitemail.monitors.urls")),
    path("", include("sitemail.orgs.urls")),
    path("", include("sitemail.deliverability.urls")),
]
