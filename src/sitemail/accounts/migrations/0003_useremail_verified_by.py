"""Record how each address was verified; rows verified before stay "" (unknown: never linked)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auth_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="useremail",
            name="verified_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("link", "a link mailed to the address"),
                    ("admin", "a site admin (or the operator's CLI)"),
                    ("provider", "an external sign-in provider"),
                    ("self", "the user's own word (first user, or sign-up with email off)"),
                    ("", "unknown (verified before this was recorded)"),
                ],
                default="",
                max_length=16,
            ),
        ),
    ]
