"""PostgreSQL: room in each page for every row's lease update, not for some of them."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def forwards(apps: Any, schema_editor: Any) -> None:
    # A row's body is TOASTed, so about 12 rows of ~470 bytes fill a page at 70%: the 2.4 KB
    # left take only 5 claims' new row versions, and the other claims were non-HOT updates
    # that wrote an entry in each of the six indexes. At 50% every claim of a page stays HOT:
    # the database's CPU per message drained fell from ~56 to ~40 us (bench: worker
    # statements on 20,000 rows). The table is not larger after the drain: the sent update
    # (status is indexed, never HOT) moved the rows to new pages at 70% anyway.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE outbox_message SET (fillfactor = 50)")


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE outbox_message SET (fillfactor = 70)")


class Migration(migrations.Migration):
    dependencies = [("outbox", "0006_counts_and_log_indexes")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
