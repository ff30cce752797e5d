"""Django app for external accounts; registers the SSO safeguard with the site config."""

from __future__ import annotations

from django.apps import AppConfig


class ExternalAuthConfig(AppConfig):
    name = "sitemail.accounts.external"
    label = "external_auth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sitemail.accounts.external import safeguard
        from sitemail.siteconfig import service

        if safeguard.check not in service.validators:
            service.validators.append(safeguard.check)
