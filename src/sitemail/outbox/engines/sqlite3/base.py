"""django.db.backends.sqlite3 with outbox.pending's hooks."""

from django.db.backends.sqlite3 import base

from sitemail.outbox.pending import DeferredInserts


class DatabaseWrapper(DeferredInserts, base.DatabaseWrapper):
    pass
