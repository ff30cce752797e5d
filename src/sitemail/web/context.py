"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from sitemail.catcher import access


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "product_name": settings.PRODUCT_NAME,
        "dev_mode": access.dev_mode(),
        # Lazy: the rule may query the database, only on pages that show the link.
        "catcher_visible": lambda: (
            access.access(getattr(request, "user", None)) is access.Access.ALLOWED
        ),
    }
