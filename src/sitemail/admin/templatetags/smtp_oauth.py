"""`{% smtp_oauth_card %}`: the OAuth 2.0 (Connect account) and Amazon SES card of the
configuration page, with its own context so the page's view needs nothing for it."""

from __future__ import annotations

from typing import Any

from django import template

from sitemail.siteconfig import service as siteconfig
from sitemail.smtp import rules
from sitemail.smtp.oauth import config, connect, store

register = template.Library()


@register.inclusion_tag("siteadmin/_smtp_oauth.html", takes_context=True)
def smtp_oauth_card(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    smtp = siteconfig.get_settings().email.smtp
    oauth = smtp.oauth if smtp is not None else None
    connectable = connect.connectable(smtp)
    username = smtp.username if smtp is not None and smtp.username else ""
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "read_only": context.get("read_only", False),
        "notice": request.session.pop("smtp_oauth_notice", None),
        "uses_oauth": smtp is not None and rules.uses_oauth(smtp.authentication),
        "grant": oauth.grant.replace("_", " ") if oauth is not None else "",
        "provider": oauth.provider if oauth is not None else "",
        "token_url": config.token_url(oauth) if oauth is not None else "",
        "connectable": connectable is not None,
        "connected_as": (
            store.connected_account(connectable, username) if connectable is not None else None
        ),
        "username": username,
    }
