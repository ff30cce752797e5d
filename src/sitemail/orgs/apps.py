"""Django app registration for organizations."""

from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "sitemail.orgs"
    label = "orgs"
