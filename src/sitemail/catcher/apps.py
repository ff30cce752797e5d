"""Django app registration for the mail catcher."""

from django.apps import AppConfig


class CatcherConfig(AppConfig):
    name = "sitemail.catcher"
    label = "catcher"
