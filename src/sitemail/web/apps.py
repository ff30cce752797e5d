"""Django app registration for pages."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "sitemail.web"
    label = "web"
