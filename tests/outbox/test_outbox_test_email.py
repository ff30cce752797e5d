"""sendTestEmail tests the configuration saved last, even one another process saved a moment
ago (`sitemail config set` beside a running server), not the settings cache's copy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sitemail.outbox.test_email import send_test_email
from sitemail.siteconfig import jsonc
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.models import SiteConfigVersion
from sitemail.siteconfig.typed import SiteSettings
from tests.smtpserver import ServerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_test_email_right_after_another_process_saved_uses_the_new_server(
    smtp_server: ServerFactory, configure_site: Callable[..., SiteSettings]
) -> None:
    old, new = smtp_server(auth=()), smtp_server(auth=())
    configure_site(old.site_config())
    siteconfig.get_settings()  # this process's cache holds the old server now
    # Another process saves (no cache clearing here): a new version pointing at `new`.
    text = jsonc.set_path(siteconfig.current().contents, ("email.smtp",), new.site_config())
    SiteConfigVersion.objects.create(contents=text)

    result = asyncio.run(send_test_email("someone@example.com"))

    assert result.startswith('Sent test email to "someone@example.com"'), result
    assert len(new.wait_for(1)) == 1
    assert old.messages == []
