"""Item 1: a process in file mode (SITE_CONFIG_FILE) never changes what a database-mode one reads.

Two real processes: `sitemail serve` on the database, and a one-off `sitemail send-test-email`
run beside it with another configuration file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.process import Instance, instance_with_admin
from tests.smtpserver import ServerFactory
from tests.ui.conftest import shot

LIVE = """{
  // the live configuration: its comments, sign-up settings and key must survive
  "externalURL": "%s",
  "email.address": "noreply@example.com",
  "auth.providers": [{ "type": "builtin", "allowSignup": false }],
  "organizationInvitations": { "signingKey": "bGl2ZS1rZXktbGl2ZS1rZXktbGl2ZS1rZXk=" },
}
"""


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    with instance_with_admin(tmp_path / "data", "admin", "admin@example.com") as inst:
        yield inst


def configuration(instance: Instance) -> dict[str, Any]:
    body = instance.gql("{ site { configuration { id effectiveContents } } }")
    return dict(body["data"]["site"]["configuration"])


def test_one_off_command_with_another_file_leaves_the_live_configuration(
    instance: Instance, smtp_server: ServerFactory, tmp_path: Path, browser: Browser
) -> None:
    current = configuration(instance)
    saved = instance.gql(
        "mutation($id: Int!, $in: String!) { updateSiteConfiguration(lastID: $id, input: $in) }",
        {"id": current["id"], "in": LIVE % instance.url},
    )
    assert "errors" not in saved, saved
    before = configuration(instance)

    server = smtp_server(auth=())
    other = tmp_path / "other.jsonc"
    other.write_text(
        json.dumps(
            {
                "email.address": "other@example.com",
                "email.smtp": server.site_config(authentication="none", tls="none"),
            }
        )
    )
    one_off = instance.cli(
        "send-test-email", "you@example.com", env_extra={"SITE_CONFIG_FILE": str(other)}
    )
    assert "successfully" in one_off.stdout
    assert server.wait_for(1)[0].rcpt_tos == ["you@example.com"]

    # The server still runs on its own document: same version, every comment and key.
    after = configuration(instance)
    assert after == before
    assert "// the live configuration" in after["effectiveContents"]
    assert "other@example.com" not in after["effectiveContents"]
    assert "other@example.com" not in instance.cli("config", "get").stdout

    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=instance.url)
    page = context.new_page()
    page.goto("/sign-in")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "a long enough password")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto("/site-admin/configuration")
    expect(page.locator(".CodeMirror")).to_contain_text("the live configuration")
    shot(page, "01-file-mode-left-live-config")
    context.close()
