"""Totals kept on write for /metrics (outbox.counts) and the email log's indexes (issue 20).

On PostgreSQL the indexes are built and the table counted while writes wait: about 20 s at
1M rows on a loaded 2-core machine (bench scale's fill migrates before filling, so it does not
show there); plan the upgrade of a large outbox for a quiet moment.
"""

from typing import Any

import django.db.models.functions.text
from django.db import migrations, models


def install_counts(apps: Any, schema_editor: Any) -> None:
    from sitemail.outbox import counts

    counts.install(schema_editor.connection)


def uninstall_counts(apps: Any, schema_editor: Any) -> None:
    from sitemail.outbox import counts

    counts.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0005_sent_reply"),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboxCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=64)),
                ("status", models.CharField(max_length=16)),
                ("messages", models.BigIntegerField(default=0)),
                ("retries", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "outbox_count",
            },
        ),
        migrations.CreateModel(
            name="OutboxCountDelta",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=64)),
                ("status", models.CharField(max_length=16)),
                ("messages", models.BigIntegerField()),
                ("retries", models.BigIntegerField()),
            ],
            options={
                "db_table": "outbox_count_delta",
            },
        ),
        migrations.RemoveIndex(
            model_name="outboxmessage",
            name="outbox_recipient",
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                django.db.models.functions.text.Lower("recipient"),
                models.F("id"),
                name="outbox_recipient_ci",
            ),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(fields=["status", "id"], name="outbox_status"),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("status", "queued")),
                fields=["created_at"],
                name="outbox_queued_age",
            ),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", False)),
                fields=["sent_at"],
                name="outbox_sent_at",
            ),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(
                    ("attempts__gt", 0),
                    models.Q(("status__in", ["sent", "cancelled"]), _negated=True),
                ),
                fields=["id"],
                name="outbox_unsent_attempts",
            ),
        ),
        migrations.AddConstraint(
            model_name="outboxcount",
            constraint=models.UniqueConstraint(fields=("kind", "status"), name="outbox_count_key"),
        ),
        migrations.RunPython(install_counts, uninstall_counts, elidable=False),
    ]
