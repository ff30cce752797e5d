"""Django app for the OAuth 2.0 token table."""

from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "sitemail.smtp.oauth"
    label = "smtp_oauth"
    default_auto_field = "django.db.models.BigAutoField"
