"""Page routes."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from sitemail.catcher import views as catcher
from sitemail.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("mailcatcher", catcher.inbox, name="mailcatcher"),
    path("mailcatcher/messages.json", catcher.messages_json, name="mailcatcher-json"),
    path("mailcatcher/clear", catcher.clear, name="mailcatcher-clear"),
    path("mailcatcher/<int:pk>", catcher.detail, name="mailcatcher-detail"),
    path("mailcatcher/<int:pk>/raw", catcher.raw, name="mailcatcher-raw"),
    path("mailcatcher/<int:pk>/delete", catcher.delete, name="mailcatcher-delete"),
    re_path(
        r"^static/(?P<path>.*)$", serve, {"document_root": settings.BASE_DIR / "web" / "static"}
    ),
]
