"""Django app registration for the outbox."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "sitemail.outbox"
    label = "outbox"
