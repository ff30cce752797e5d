"""Who may read caught mail (it holds every reset and sign-in link sent): the one rule.

Site admins may. While the site has no users yet, `serve --dev` shows it to anyone, so a
newcomer can read the first emails before any account exists. A process serving pages on an
address other than loopback turns the page off for everyone.
"""

from __future__ import annotations

import ipaddress
import os
from enum import Enum
from typing import Any

DEV_ENV = "SITEMAIL_DEV"
OFF_ENV = "SITEMAIL_CATCHER_PAGE"  # "off" when serve binds a non-loopback address


class Access(Enum):
    ALLOWED = "allowed"
    SIGN_IN = "sign in"  # signed out: sign in as a site admin
    FORBIDDEN = "forbidden"  # signed in, not a site admin
    OFF = "off"  # not served by this process


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def page_off() -> bool:
    return os.environ.get(OFF_ENV) == "off"


def dev_mode() -> bool:
    return os.environ.get(DEV_ENV) == "1" and not page_off()


def access(user: Any) -> Access:
    """May `user` (possibly anonymous) read the mail catcher? (Runs a query in dev mode.)"""
    if page_off():
        return Access.OFF
    if getattr(user, "site_admin", False):
        return Access.ALLOWED
    if dev_mode() and not _site_has_users():
        return Access.ALLOWED
    if getattr(user, "is_authenticated", False):
        return Access.FORBIDDEN
    return Access.SIGN_IN


def _site_has_users() -> bool:
    from sitemail.accounts.models import User

    return User.objects.exists()
