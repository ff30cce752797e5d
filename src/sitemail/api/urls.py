"""API routes: the GraphQL endpoint, the console and its locally installed assets."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from sitemail.api import views

# Only the files the console needs are reachable, never the rest of node_modules.
_VENDOR = (
    r"^vendor/(?P<path>(graphiql/graphiql\.min\.(js|css)"
    r"|react/umd/react\.production\.min\.js"
    r"|react-dom/umd/react-dom\.production\.min\.js))$"
)

urlpatterns = [
    path(".api/graphql", views.graphql, name="graphql"),
    path("api/console", views.console, name="api-console"),
    re_path(_VENDOR, serve, {"document_root": settings.VENDOR_DIR}),
]
