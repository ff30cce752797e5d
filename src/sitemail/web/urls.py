"""Page routes."""

from django.urls import path

from sitemail.web import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
