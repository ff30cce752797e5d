"""django.db.backends.postgresql with outbox.pending's hooks."""

from django.db.backends.postgresql import base

from sitemail.outbox.pending import DeferredInserts


class DatabaseWrapper(DeferredInserts, base.DatabaseWrapper):
    pass
