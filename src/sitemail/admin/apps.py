"""Django app registration for the site-admin console (templates and static files)."""

from django.apps import AppConfig


class SiteAdminConfig(AppConfig):
    name = "sitemail.admin"
    label = "siteadmin"  # "admin" is django.contrib.admin's label
