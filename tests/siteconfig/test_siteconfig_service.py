"""The service: versions, stale saves, read-only file mode, typed settings and their cache."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitemail.siteconfig import jsonc, service
from sitemail.siteconfig.defaults import DEFAULT_DOCUMENT
from sitemail.siteconfig.models import SiteConfigVersion
from sitemail.siteconfig.service import SiteConfigError
from sitemail.siteconfig.typed import SMTPConfig

pytestmark = pytest.mark.django_db

CONFIG = """\
// Production settings; ask #mail before changing.
{
  "externalURL": "https://sg.example.com/", // trailing slash is dropped when reading
  "email.address": "noreply@example.com",
  "email.smtp": {
    /* the relay */
    "host": "smtp.example.com",
    "port": 465,
    "authentication": "LOGIN",
    "username": "alice",
    "password": "s3cret",
    "tls": "implicit",
    "timeout": 12.5,
    "additionalHeaders": [{ "key": "X-Api-Key", "value": "k", "sensitive": true },],
  },
  "auth.providers": [{ "type": "builtin", "allowSignup": true }],
  "auth.passwordResetLinkExpiry": 600,
  "organizationInvitations": { "signingKey": "c2lnbg==" },
}
"""


def save(text: str) -> int:
    return service.update(service.current().id, text)


def test_new_site_gets_the_default_document() -> None:
    version = service.current()
    assert version.contents == DEFAULT_DOCUMENT
    assert service.current().id == version.id  # not re-created
    settings_ = service.get_settings()
    assert settings_.external_url == "http://127.0.0.1:3080"
    assert settings_.email.smtp is None and not settings_.email.enabled
    assert settings_.email.sender_name == django_settings.PRODUCT_NAME
    assert settings_.auth.builtin_enabled and not settings_.auth.allow_signup


def test_update_keeps_comments_and_trailing_commas_exactly() -> None:
    new_id = save(CONFIG)
    row = SiteConfigVersion.objects.get(id=new_id)
    assert row.contents == CONFIG
    assert service.current().id == new_id


def test_update_records_the_author(django_user_model: Any) -> None:
    admin = django_user_model.objects.create(username="admin", site_admin=True)
    new_id = service.update(service.current().id, CONFIG, author=admin)
    assert SiteConfigVersion.objects.get(id=new_id).author == admin


def test_stale_last_id_is_refused() -> None:
    first = service.current().id
    second = service.update(first, CONFIG)
    with pytest.raises(SiteConfigError) as info:
        service.update(first, DEFAULT_DOCUMENT)
    assert info.value.problems == [
        f"someone else saved the site configuration first (your version {first}, current "
        f"{second}); reload and apply your change again"
    ]
    assert service.current().contents == CONFIG


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_from_the_same_version_one_wins() -> None:
    last = service.current().id
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def editor(n: int) -> None:
        try:
            barrier.wait()
            service.update(last, CONFIG.replace('"port": 465', f'"port": {2000 + n}'))
            outcomes.append("saved")
        except SiteConfigError as exc:
            outcomes.append(exc.problems[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=editor, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("saved") == 1
    assert all(
        o.startswith("someone else saved the site configuration first")
        for o in outcomes
        if o != "saved"
    )
    assert SiteConfigVersion.objects.count() == 2


def test_invalid_documents_are_refused_with_every_problem() -> None:
    before = service.current()
    bad = CONFIG.replace('"port": 465', '"port": 70000').replace('"tls": "implicit"', '"tls": "x"')
    with pytest.raises(SiteConfigError) as info:
        service.update(before.id, bad)
    assert [p.split(":")[0] for p in info.value.problems] == ["email.smtp.port", "email.smtp.tls"]
    assert str(info.value) == "\n".join(info.value.problems)
    with pytest.raises(SiteConfigError) as info:
        service.update(before.id, "{ nope")
    assert info.value.problems[0].startswith("line 1, column 7: invalid JSONC")
    assert service.current().id == before.id


def test_text_that_is_not_unicode_is_refused_not_crashing_the_database() -> None:
    last = service.current().id
    with pytest.raises(SiteConfigError) as info:
        service.update(last, '{\n  "externalURL": "http://x\ud800"}')  # e.g. from a JSON body
    assert info.value.problems == ["line 2, column 27: not valid Unicode text"]
    with pytest.raises(SiteConfigError) as info:
        service.update(last, '{"email.senderName": "\\ud800"}')
    assert info.value.problems[0].startswith("email.senderName: contains an unpaired surrogate")


def test_effective_contents_redacts_and_saving_it_back_keeps_the_secrets() -> None:
    save(CONFIG)
    shown = service.effective_contents()
    assert "s3cret" not in shown and "alice" not in shown and "c2lnbg==" not in shown
    assert "// Production settings; ask #mail before changing." in shown
    edited = shown.replace('"timeout": 12.5', '"timeout": 20')
    new_id = save(edited)
    assert SiteConfigVersion.objects.get(id=new_id).contents == CONFIG.replace("12.5", "20")


def test_redacted_secret_that_was_never_stored_is_refused() -> None:
    text = CONFIG.replace('"password": "s3cret"', '"password": "REDACTED"')
    with pytest.raises(SiteConfigError) as info:
        save(text)
    assert info.value.problems == [
        'email.smtp.password: "REDACTED" stands for the stored secret, but none is stored for '
        "this setting; enter the actual value"
    ]


def test_validation_messages_include_warnings() -> None:
    save(CONFIG.replace('"tls": "implicit",', '"tls": "implicit", "noVerifyTLS": true,'))
    [message] = service.validation_messages()
    assert message.startswith("email.smtp.noVerifyTLS: true turns off TLS certificate")


def test_get_settings_typed_values() -> None:
    save(CONFIG)
    s = service.get_settings()
    assert s.version == service.current().id
    assert s.external_url == "https://sg.example.com"
    assert s.host == "sg.example.com"
    assert s.email.address == "noreply@example.com"
    assert s.email.smtp == SMTPConfig(
        host="smtp.example.com",
        port=465,
        authentication="LOGIN",
        username="alice",
        password="s3cret",
        tls="implicit",
        timeout=12.5,
    )
    assert [(h.key, h.value, h.sensitive) for h in s.email.additional_headers] == [
        ("X-Api-Key", "k", True)
    ]
    assert s.auth.allow_signup
    assert s.auth.password_reset_link_expiry == 600
    assert s.auth.min_password_length == 12
    assert s.organization_invitations.signing_key == "c2lnbg=="
    assert s.organization_invitations.expiry_hours == 48


class _Boom(Exception):
    pass


def test_inside_a_transaction_a_check_holds_for_that_transaction_and_the_ttl(
    django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that enqueues many emails checks the version once, not once per email."""
    clock = _Clock()
    monkeypatch.setattr(service, "time", clock)
    save(CONFIG)
    first = service.get_settings()  # this test runs inside a transaction
    with django_assert_num_queries(0):
        assert service.get_settings() is first
    # Another writer (no cache clearing): seen within the bound, as outside a transaction.
    SiteConfigVersion.objects.create(contents='{"externalURL": "https://new.example.com"}')
    assert service.get_settings() is first
    clock.now += service.CACHE_TTL
    s = service.get_settings()
    assert s.external_url == "https://new.example.com" and s.email.smtp is None


def test_a_version_rolled_back_with_a_savepoint_is_never_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "time", _Clock())  # the TTL never runs out
    save(CONFIG)
    assert service.get_settings().external_url == "https://sg.example.com"
    with pytest.raises(_Boom), transaction.atomic():
        service.patch({("externalURL",): "https://rolled-back.example.com"})
        assert service.get_settings().external_url == "https://rolled-back.example.com"
        raise _Boom
    assert service.get_settings().external_url == "https://sg.example.com"


@pytest.mark.django_db(transaction=True)
def test_each_transaction_checks_the_version_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "time", _Clock())  # the TTL never runs out
    save(CONFIG)
    with transaction.atomic():
        assert service.get_settings().external_url == "https://sg.example.com"
    # Another process saves (no cache clearing here); this process's next transaction sees it.
    SiteConfigVersion.objects.create(contents='{"externalURL": "https://new.example.com"}')
    with transaction.atomic():
        assert service.get_settings().external_url == "https://new.example.com"
    with pytest.raises(_Boom), transaction.atomic():
        SiteConfigVersion.objects.create(contents='{"externalURL": "https://gone.example.com"}')
        assert service.get_settings().external_url == "https://gone.example.com"
        raise _Boom
    with transaction.atomic():
        assert service.get_settings().external_url == "https://new.example.com"


class _Clock:
    """service's monotonic clock, moved by the test instead of slept through."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


@pytest.mark.django_db(transaction=True)
def test_get_settings_cache_and_cross_process_invalidation(
    django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    monkeypatch.setattr(service, "time", clock)
    save(CONFIG)
    first = service.get_settings()
    with django_assert_num_queries(0):  # the hot path: no query within the TTL
        assert service.get_settings() is first
        assert asyncio.run(service.aget_settings()) is first  # nor a thread hop
    clock.now += service.CACHE_TTL
    with django_assert_num_queries(1):  # then one cheap version check
        assert service.get_settings() is first
    # What another process does: insert a row directly; this process's cache is not cleared.
    SiteConfigVersion.objects.create(contents='{"externalURL": "https://other.example.com"}')
    assert service.get_settings() is first  # within the bound: still the cached one
    assert service.get_settings(fresh=True).external_url == "https://other.example.com"
    SiteConfigVersion.objects.create(contents='{"externalURL": "https://third.example.com"}')
    clock.now += service.CACHE_TTL  # the documented bound for other processes
    assert service.get_settings().external_url == "https://third.example.com"


@pytest.mark.django_db(transaction=True)
def test_a_save_applies_at_once_in_the_process_that_made_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "time", _Clock())  # the TTL never runs out
    save(CONFIG)
    assert service.get_settings().email.smtp is not None
    service.patch({("email.smtp", "port"): 2526})
    smtp = service.get_settings().email.smtp
    assert smtp is not None and smtp.port == 2526


def test_invalid_stored_document_still_gives_settings() -> None:
    # As if SITE_CONFIG_FILE had been edited by hand: bypasses validation.
    SiteConfigVersion.objects.create(
        contents='{"externalURL": 5, "email.smtp": {"host": "h", "port": "x"}, '
        '"email.address": "bad", "auth.minPasswordLength": "x", '
        '"email.smtp2": 1, "email.templates": {"resetPassword": {"subject": "{{", "html": "h"}}}'
    )
    s = service.get_settings()
    assert s.external_url == "http://127.0.0.1:3080"
    assert s.email.smtp is None and s.email.address is None and s.email.templates == {}
    assert s.auth.min_password_length == 12
    SiteConfigVersion.objects.create(contents="{ not json")
    assert service.get_settings().email.smtp is None


def test_invalid_headers_are_never_used() -> None:
    SiteConfigVersion.objects.create(
        contents=json.dumps(
            {
                "email.smtp": {
                    "host": "h",
                    "port": 25,
                    "additionalHeaders": [
                        {"key": "X-Ok", "value": "1"},
                        {"key": "X-Bad", "value": "a\r\nBcc: x@example.com"},
                        {"key": "From", "value": "evil@example.com"},
                    ],
                }
            }
        )
    )
    assert [h.key for h in service.get_settings().email.additional_headers] == ["X-Ok"]


def test_patch_sets_paths_keeping_comments() -> None:
    save(CONFIG)
    new_id = service.patch(
        {("email.smtp", "port"): 587, ("email.smtp", "tls"): "starttls"},
        comment="changed by the SMTP form",
    )
    text = SiteConfigVersion.objects.get(id=new_id).contents
    expected = CONFIG.replace('"port": 465', '"port": 587').replace(
        '"tls": "implicit"', '"tls": "starttls"'
    )
    assert text == expected.replace(
        '    "port": 587', '    // changed by the SMTP form\n    "port": 587'
    )
    assert service.get_settings().email.smtp is not None
    assert service.get_settings().email.smtp.port == 587  # type: ignore[union-attr]


def test_patch_of_the_default_document_like_serve_dev() -> None:
    # serve --dev writes nested-looking paths; they are the flat keys of the document.
    service.patch(
        {
            ("email", "smtp"): {
                "host": "127.0.0.1",
                "port": 2525,
                "authentication": "none",
                "tls": "none",
            },
            ("email", "address"): "sitemail@example.com",
        },
        comment="sitemail serve --dev: the built-in mail catcher",
    )
    text = service.current().contents
    assert text.startswith(DEFAULT_DOCUMENT.split("\n  // Email is disabled")[0])
    assert '  // sitemail serve --dev: the built-in mail catcher\n  "email.smtp": {' in text
    assert "// Email is disabled until" in text
    assert service.validation_messages() == []
    smtp = service.get_settings().email.smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.tls) == ("127.0.0.1", 2525, "none")


def test_patch_is_validated() -> None:
    before = service.current().id
    with pytest.raises(SiteConfigError) as info:
        service.patch({("email.smtp",): {"host": "h", "port": 0}})
    assert info.value.problems[0].startswith("email.smtp.port: 0 is less than the minimum of 1")
    assert service.current().id == before


def test_registered_validators_block_saves(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def no_builtin_removal(doc: dict[str, Any]) -> list[str]:
        seen.append(doc)
        providers = doc.get("auth.providers", [])
        if not any(p.get("type") == "builtin" for p in providers):
            return ["auth.providers: no site admin could sign in"]
        return []

    monkeypatch.setattr(service, "validators", [no_builtin_removal])
    save(CONFIG)
    assert seen[-1]["email.smtp"]["password"] == "s3cret"  # hooks see unredacted values
    with pytest.raises(SiteConfigError) as info:
        save(CONFIG.replace('{ "type": "builtin", "allowSignup": true }', '{ "type": "github" }'))
    assert info.value.problems == ["auth.providers: no site admin could sign in"]


def test_site_config_file_is_the_read_only_source_of_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "site.jsonc"
    path.write_text(CONFIG)
    monkeypatch.setenv("SITE_CONFIG_FILE", str(path))
    assert service.read_only()
    version = service.current()
    assert version.contents == CONFIG
    assert service.current().id == version.id  # stable while the file is unchanged
    assert service.get_settings().email.smtp is not None
    assert "s3cret" not in service.effective_contents()

    with pytest.raises(SiteConfigError) as info:
        service.update(version.id, DEFAULT_DOCUMENT)
    assert info.value.problems == [
        f"the site configuration is read-only because SITE_CONFIG_FILE is set ({path}); edit "
        "that file instead"
    ]
    with pytest.raises(SiteConfigError):
        service.patch({("externalURL",): "https://x.example.com"})

    path.write_text('{"externalURL": "https://file.example.com"}\n')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert service.current().id > version.id
    s = service.get_settings()
    assert s.external_url == "https://file.example.com" and s.email.smtp is None


def test_unreadable_site_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "site.jsonc"
    path.write_text(CONFIG)
    monkeypatch.setenv("SITE_CONFIG_FILE", str(path))
    assert service.get_settings().email.smtp is not None
    path.unlink()
    service.clear_cache()
    with pytest.raises(SiteConfigError) as info:
        service.current()
    assert "SITE_CONFIG_FILE=" in info.value.problems[0]
    assert "cannot read" in info.value.problems[0]
    # Settings fall back to this process's last copy of the file instead of failing requests.
    assert service.get_settings().email.smtp is not None


def test_file_mode_writes_nothing_to_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save('{"externalURL": "https://db.example.com"}')
    rows = SiteConfigVersion.objects.count()
    path = tmp_path / "site.jsonc"
    path.write_text(CONFIG)
    monkeypatch.setenv("SITE_CONFIG_FILE", str(path))
    assert service.current().contents == CONFIG
    assert service.get_settings().email.smtp is not None
    assert SiteConfigVersion.objects.count() == rows
    monkeypatch.delenv("SITE_CONFIG_FILE")
    service.clear_cache()
    assert service.get_settings().external_url == "https://db.example.com"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
smtp_values = st.dictionaries(
    st.sampled_from(
        [
            "host",
            "port",
            "username",
            "password",
            "authentication",
            "domain",
            "noVerifyTLS",
            "tls",
            "timeout",
            "additionalHeaders",
        ]
    )
    | st.text(max_size=12),
    json_values
    | st.sampled_from(["PLAIN", "none", "auto", "starttls", "smtp.example.com", "REDACTED"])
    | st.integers(min_value=-1, max_value=70000)
    | st.lists(
        st.fixed_dictionaries(
            {"key": st.text(max_size=8), "value": st.text(max_size=8)},
            optional={"sensitive": st.booleans()},
        ),
        max_size=3,
    ),
    max_size=8,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(smtp=smtp_values, address=st.none() | st.text(max_size=20) | st.emails())
def test_random_smtp_configs_only_ever_raise_site_config_error(
    smtp: dict[str, Any], address: str | None
) -> None:
    doc: dict[str, Any] = {"email.smtp": smtp}
    if address is not None:
        doc["email.address"] = address
    try:
        new_id = service.update(service.current().id, json.dumps(doc))
    except SiteConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert service.current().id == new_id
    assert jsonc.parse(service.current().contents) == jsonc.parse(json.dumps(doc))
    service.get_settings()
    service.effective_contents()
