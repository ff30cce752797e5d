"""Site-admin routes, their static files, and the locally installed CodeMirror files."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from sitemail.admin import oauth, views

# Only the editor's files are reachable, never the rest of node_modules.
_CODEMIRROR = (
    r"^vendor/(?P<path>codemirror/(lib/codemirror\.(js|css)|mode/javascript/javascript\.js"
    r"|addon/edit/matchbrackets\.js|addon/edit/closebrackets\.js))$"
)

urlpatterns = [
    path("site-admin", views.configuration),
    path("site-admin/", views.configuration),
    path("site-admin/configuration", views.configuration, name="site-admin-configuration"),
    path("site-admin/configuration/validate", views.validate_config),
    path("site-admin/configuration/test-email", views.test_email, name="site-admin-test-email"),
    path("site-admin/oauth/connect", oauth.connect_start),
    path("site-admin/oauth/callback", oauth.connect_callback),
    path("site-admin/oauth/ses", oauth.ses_credentials),
    path("site-admin/email-log", views.email_log, name="site-admin-email-log"),
    path("site-admin/email-log/<int:pk>", views.email_detail, name="site-admin-email"),
    path("site-admin/email-log/<int:pk>/<str:action>", views.email_action),
    path("site-admin/email-templates", views.email_templates, name="site-admin-email-templates"),
    path("site-admin/users", views.users, name="site-admin-users"),
    path("site-admin/users/<str:username>/site-admin", views.user_site_admin),
    path("metrics", views.metrics_view, name="metrics"),
    path("site-admin/metrics", views.metrics_page, name="site-admin-metrics"),
    re_path(
        r"^site-admin/static/(?P<path>[\w.-]+)$",
        serve,
        {"document_root": settings.BASE_DIR / "admin" / "static" / "siteadmin"},
    ),
    re_path(_CODEMIRROR, serve, {"document_root": settings.VENDOR_DIR}),
]
