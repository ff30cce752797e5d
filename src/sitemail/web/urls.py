"""Page routes."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from sitemail.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("mailcatcher", views.mailcatcher, name="mailcatcher"),
    path("mailcatcher/<int:pk>", views.mailcatcher_detail, name="mailcatcher-detail"),
    re_path(
        r"^static/(?P<path>.*)$", serve, {"document_root": settings.BASE_DIR / "web" / "static"}
    ),
]
