"""Template context shared by every page."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "product_name": settings.PRODUCT_NAME,
        "dev_mode": os.environ.get("SITEMAIL_DEV") == "1",
    }
