"""PostgreSQL: leave room in each page so the worker's lease updates can be HOT updates."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def forwards(apps: Any, schema_editor: Any) -> None:
    # A claim only sets lease_owner/lease_until (not indexed): with free space on the page
    # PostgreSQL updates the row in place without touching the five indexes (HOT).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE outbox_message SET (fillfactor = 70)")


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE outbox_message RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
