"""Django app registration for the site configuration."""

from django.apps import AppConfig


class SiteConfigConfig(AppConfig):
    name = "sitemail.siteconfig"
    label = "siteconfig"
