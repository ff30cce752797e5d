"""Fixtures for the site configuration tests: no SITE_CONFIG_FILE and an empty settings cache."""

from __future__ import annotations
