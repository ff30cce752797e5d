"""Django app registration for the outbox."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_counts(using: str = "default", **_: Any) -> None:
    from django.db import connections

    from sitemail.outbox import counts

    counts.ensure(connections[using])


class OutboxConfig(AppConfig):
    name = "sitemail.outbox"
    label = "outbox"

    def ready(self) -> None:
        # A later migration that rebuilds outbox_message (SQLite) drops the count triggers.
        post_migrate.connect(_ensure_counts, sender=self, dispatch_uid="outbox_counts")
