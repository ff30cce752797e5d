"""Django app registration for the API (templates)."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "sitemail.api"
    label = "api"
