"""Item 3: saving from the web editor keeps the document's own line endings byte for byte."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from sitemail.siteconfig import service as siteconfig
from tests.admin.conftest import set_document
from tests.ui.conftest import shot, sign_in

DOC = (
    '{\n  // our settings\n  "externalURL": "https://a.example.com",\n'
    '  "email.senderName": "Acme",\n}\n'
)


@pytest.mark.parametrize("name", ["lf", "crlf", "mixed"])
def test_editor_save_keeps_line_endings(page: Page, name: str) -> None:
    doc = {"lf": DOC, "crlf": DOC.replace("\n", "\r\n"), "mixed": DOC.replace(",\n", ",\r\n")}
    set_document(doc[name])
    before = siteconfig.current().contents
    sign_in(page, "admin")
    page.goto("/site-admin/configuration")
    page.evaluate(
        """() => { const cm = window.sitemailEditor;
        cm.setValue(cm.getValue().replace("a.example.com", "b.example.com")); }"""
    )
    page.get_by_role("button", name="Save configuration").click()
    expect(page.locator("#config-saved")).to_be_visible()
    shot(page, f"03-line-endings-{name}", full_page=False)
    assert siteconfig.current().contents == before.replace("a.example.com", "b.example.com")
