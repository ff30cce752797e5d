"""Deliverability routes: one-click unsubscribe, provider webhooks, the suppression list."""

from django.urls import path

from sitemail.deliverability import admin_views, views
from sitemail.deliverability.webhooks import views as webhooks

urlpatterns = [
    path("-/unsubscribe/<str:token>/", views.one_click, name="unsubscribe"),
    path("user/settings/unsubscriptions/undo", views.undo, name="unsubscribe-undo"),
    path(".webhooks/email/<str:provider>", webhooks.receive, name="email-webhook"),
    path("site-admin/suppressions", admin_views.suppressions, name="site-admin-suppressions"),
]
