"""Django app registration for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "sitemail.accounts"
    label = "accounts"

    def ready(self) -> None:
        from sitemail.accounts import logfilter

        logfilter.install()
