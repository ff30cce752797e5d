"""Site configuration versions: every save inserts a row; the row with the highest id is current."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SiteConfigVersion(models.Model):
    # The id is the version id clients send back as lastID.
    contents = models.TextField()  # the JSONC text exactly as saved, comments included
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "site_config_versions"
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"site configuration version {self.pk}"
