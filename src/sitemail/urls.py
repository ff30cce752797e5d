"""URL routes: pages, the GraphQL endpoint and health."""

from django.urls import include, path

urlpatterns = [
    path("", include("sitemail.web.urls")),
    path("", include("sitemail.api.urls")),
]
