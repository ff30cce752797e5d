"""Django app registration for deliverability (events, suppression, unsubscribe)."""

from django.apps import AppConfig


class DeliverabilityConfig(AppConfig):
    name = "sitemail.deliverability"
    label = "deliverability"
