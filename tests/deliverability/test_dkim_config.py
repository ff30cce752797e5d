"""`email.dkim` and `email.dns.nameservers` in the site configuration: validation with fixes,
the key REDACTED like a password, the alignment warning, and `sitemail dkim keygen`."""

from __future__ import annotations

import json
import sys

import pytest

from sitemail.cli import main
from sitemail.deliverability import dkim
from sitemail.siteconfig import jsonc, redact, service
from sitemail.siteconfig.validate import validate
from tests.deliverability.conftest import configure, dkim_doc

pytestmark = pytest.mark.django_db(transaction=True)

BASE = {"externalURL": "https://sg.example.com", "email.address": "noreply@example.com"}


def _messages(**keys: object) -> tuple[list[str], list[str]]:
    result = validate(json.dumps({**BASE, **keys}))
    return [p.text for p in result.errors], [p.text for p in result.warnings]


def test_a_valid_key_validates_and_signs(rsa_pem: str) -> None:
    errors, warnings = _messages(**{"email.dkim": dkim_doc(rsa_pem)})
    assert errors == [] and warnings == []
    settings = configure(**{"email.dkim": dkim_doc(rsa_pem)})
    assert settings.email.dkim is not None and settings.email.dkim.selector == "s1"


@pytest.mark.parametrize(
    ("dkim_value", "expected"),
    [
        (
            {"domain": "example.com", "selector": "s1"},
            "email.dkim.privateKey: required but missing",
        ),
        ({"domain": "exa mple.com", "selector": "s1", "privateKey": "x"}, "email.dkim.domain"),
        ({"domain": "example.com", "selector": "bad selector", "privateKey": "x"}, "selector"),
        ({"domain": "example.com", "selector": "s1", "privateKey": "not a key"}, "PEM"),
    ],
)
def test_bad_dkim_settings_name_the_field(dkim_value: dict[str, str], expected: str) -> None:
    errors, _ = _messages(**{"email.dkim": dkim_value})
    assert any(expected in e for e in errors), errors
    assert all("not a key" not in e for e in errors)  # the key's value is never echoed


def test_a_1024_bit_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- on purpose
    pem = weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    errors, _ = _messages(**{"email.dkim": dkim_doc(pem)})
    assert errors == [
        "email.dkim.privateKey: an RSA key of 1024 bits is too short; receivers want 2048 bits "
        "or more (`sitemail dkim keygen` makes one)"
    ]


@pytest.mark.parametrize(
    ("dkim_domain", "warned"),
    [("example.com", False), ("mail.example.com", False), ("example.net", True)],
)
def test_alignment_warning(rsa_pem: str, dkim_domain: str, warned: bool) -> None:
    errors, warnings = _messages(**{"email.dkim": dkim_doc(rsa_pem, domain=dkim_domain)})
    assert errors == []
    alignment = [w for w in warnings if w.startswith("email.dkim.domain:")]
    assert bool(alignment) == warned, warnings
    if warned:
        assert "does not align with the From domain 'example.com'" in alignment[0]
        result = validate(json.dumps({**BASE, "email.dkim": dkim_doc(rsa_pem, domain=dkim_domain)}))
        [problem] = result.warnings
        assert (problem.path, problem.severity) == ("email.dkim.domain", "warning")
        assert problem.hint == "sign as 'example.com' or a parent domain of it"


def test_nameservers_are_validated() -> None:
    errors, _ = _messages(**{"email.dns.nameservers": ["10.0.0.2", "127.0.0.1:5353", "[::1]:53"]})
    assert errors == []
    errors, _ = _messages(**{"email.dns.nameservers": ["dns.example.com"]})
    assert any(e.startswith("email.dns.nameservers[0]") for e in errors), errors


def test_the_private_key_is_redacted_and_kept_on_save(rsa_pem: str) -> None:
    configure(**{"email.dkim": dkim_doc(rsa_pem)})
    shown = service.effective_contents()
    assert "PRIVATE KEY" not in shown and '"privateKey": "REDACTED"' in shown
    service.update(service.current().id, shown.replace('"s1"', '"s2"'))
    service.clear_cache()
    config = service.get_settings().email.dkim
    assert config is not None and config.selector == "s2" and config.private_key == rsa_pem
    stored = jsonc.Document(service.current().contents).value
    assert ("email.dkim", "privateKey") in redact.secret_paths(stored)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_keygen_stores_the_key_and_prints_the_record(
    capsys: pytest.CaptureFixture[str], algorithm: str
) -> None:
    configure()
    code, out, err = _cli(
        capsys,
        "dkim",
        "keygen",
        "--selector",
        "sm2026",
        "--domain",
        "Example.com",
        "--algorithm",
        algorithm,
    )
    assert code == 0, err
    config = service.get_settings().email.dkim
    assert config is not None and (config.domain, config.selector) == ("example.com", "sm2026")
    key = dkim.load_key(config.private_key)
    assert key.key_type == algorithm
    assert "Publish this TXT record at sm2026._domainkey.example.com:" in out
    assert f"  {key.txt_record()}\n" in out
    assert "sm2026._domainkey.example.com. IN TXT (" in out
    assert "PRIVATE KEY" not in out + err
    assert "// DKIM key made by `sitemail dkim keygen`" in service.current().contents


def test_keygen_warns_about_alignment_and_refuses_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure()
    code, _, err = _cli(capsys, "dkim", "keygen", "--selector", "s", "--domain", "example.net")
    assert code == 0 and "warning: email.dkim.domain: the DKIM domain 'example.net'" in err
    before = service.current().id
    code, _, err = _cli(capsys, "dkim", "keygen", "--selector", "a b", "--domain", "example.com")
    assert code == 1 and "email.dkim.selector" in err and "not saved" in err
    code, _, err = _cli(
        capsys, "dkim", "keygen", "--selector", "s", "--domain", "example.com", "--bits", "1024"
    )
    assert code == 1 and "--bits: use 2048 or more" in err
    assert service.current().id == before
