"""The `sitemail` CLI in-process against the test database: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sitemail.accounts import tokens
from sitemail.cli import main
from sitemail.siteconfig import service

pytestmark = pytest.mark.django_db(transaction=True)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if isinstance(exc.code, str):
            print(exc.code, file=__import__("sys").stderr)
    out, err = capsys.readouterr()
    return code, out, err


def test_users_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "users",
        "create",
        "root",
        "--email",
        "root@example.com",
        "--password",
        "pw pw pw pw pw",
        "--site-admin",
    )
    assert code == 0 and "site admin root" in out
    code, out, _ = run(capsys, "tokens", "create", "root", "--note", "ci")
    secret = out.strip().splitlines()[-1]
    assert code == 0 and tokens.authenticate_sync(secret).username == "root"  # type: ignore[union-attr]
    code, _, err = run(capsys, "users", "create", "root", "--email", "x@example.com")
    assert code == 1 and err.strip() == "sitemail: error: username: 'root' is already taken"
    code, _, err = run(capsys, "users", "create", "bob", "--email", "not-an-address")
    assert code == 1 and err.startswith(
        "sitemail: error: email: 'not-an-address' is not a valid email address"
    )


def test_config_set_and_get_keep_comments_and_redact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = tmp_path / "site.jsonc"
    doc.write_text(
        '{\n  // our relay\n  "email.address": "noreply@example.com",\n'
        '  "email.smtp": {"host": "127.0.0.1", "port": 2525,\n'
        '                 "username": "u", "password": "s3cret",},\n}\n'
    )
    code, out, _ = run(capsys, "config", "set", str(doc))
    assert code == 0 and out.startswith("Saved site configuration version ")
    code, out, _ = run(capsys, "config", "get")
    assert "// our relay" in out and '"REDACTED"' in out and "s3cret" not in out
    assert service.get_settings().email.smtp.password == "s3cret"  # type: ignore[union-attr]

    doc.write_text('{"email.smtp": {"host": "h", "port": 0}}')
    before = service.current().id
    code, _, err = run(capsys, "config", "set", str(doc))
    assert code == 1 and "email.smtp.port" in err and "not saved" in err
    assert service.current().id == before
    code, _, err = run(capsys, "config", "set", str(tmp_path / "missing.jsonc"))
    assert code == 1 and "cannot read" in err


def test_send_test_email_prints_exact_strings(
    capsys: pytest.CaptureFixture[str], smtp_server: Any
) -> None:
    server = smtp_server(tls="none", auth=())
    current = service.current()
    service.update(
        current.id,
        json.dumps({"email.address": "noreply@example.com", "email.smtp": server.site_config()}),
    )
    code, out, _ = run(capsys, "send-test-email", "dev@example.com")
    assert code == 0
    assert (
        out.strip()
        == 'Sent test email to "dev@example.com" successfully! Please check it was received.'
    )
    assert server.wait_for(1)[0].rcpt_tos == ["dev@example.com"]
    server.fail_next(550, "5.1.1 no such user", at="rcpt")
    code, out, _ = run(capsys, "send-test-email", "gone@example.com")
    assert code == 1 and out.startswith("Failed to send test email: mail: ") and "550" in out


def test_users_create_without_password_prints_the_set_password_link(
    capsys: pytest.CaptureFixture[str], smtp_server: Any
) -> None:
    code, out, _ = run(capsys, "users", "create", "eve", "--email", "eve@example.com")
    assert code == 0 and "Set the password with this link" in out
    link = out.strip().splitlines()[-1]
    assert "/password-reset?userID=" in link and "code=" in link
    code, _, err = run(
        capsys, "users", "create", "fay", "--email", "fay@example.com", "--send-email"
    )
    assert code == 1 and "--send-email: email is disabled (set email.smtp)" in err

    server = smtp_server(tls="none", auth=())
    service.update(
        service.current().id,
        json.dumps({"email.address": "noreply@example.com", "email.smtp": server.site_config()}),
    )
    code, out, _ = run(
        capsys, "users", "create", "gus", "--email", "gus@example.com", "--send-email"
    )
    assert code == 0 and "Emailed a set-password link to gus@example.com." in out
    assert "code=" not in out  # the link went by email only


def test_mistyped_command_suggests_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sevre")
    assert code == 2 and "unknown command 'sevre'; did you mean 'serve'?" in err
    code, _, err = run(capsys, "users", "craete", "x")
    assert code == 2 and "did you mean 'create'?" in err


def test_nested_email_config_names_the_flat_keys_in_cli_and_api(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = tmp_path / "nested.json"
    doc.write_text(json.dumps({"email": {"address": "a@example.com", "smtp": {"host": "h"}}}))
    expected = (
        'email: keys are flat, not nested objects; move "address" to the top-level key '
        '"email.address", "smtp" to the top-level key "email.smtp";'
    )
    code, _, err = run(capsys, "config", "set", str(doc))
    assert code == 1 and expected in err
    with pytest.raises(service.SiteConfigError) as info:
        service.update(service.current().id, doc.read_text())  # what the API's mutation calls
    assert any(expected in p for p in info.value.problems)


def test_send_test_email_in_file_mode_names_the_nested_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file nobody's save validated: "email is disabled" alone would leave the admin puzzled.
    doc = tmp_path / "site.jsonc"
    doc.write_text(json.dumps({"email": {"address": "a@example.com", "smtp": {"host": "h"}}}))
    monkeypatch.setenv(service.FILE_ENV, str(doc))
    service.clear_cache()
    code, out, err = run(capsys, "send-test-email", "dev@example.com")
    assert code == 1 and out.startswith("Failed to send test email: ")
    assert (
        'warning: site configuration: email: keys are flat, not nested objects; move "address"'
        in err
    )
    assert '"email.smtp"' in err
