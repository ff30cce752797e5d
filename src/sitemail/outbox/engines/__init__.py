"""Django's SQLite and PostgreSQL engines with the outbox's deferred inserts (outbox.pending):
settings.DATABASES names these, so every connection of the site has them."""
