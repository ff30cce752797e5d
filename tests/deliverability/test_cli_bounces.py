"""`sitemail bounces serve` as a real process: a clear error without email.bounces, then the
listener over SMTP (its own mail only; a forged VERP token and other addresses get 550) and
the redacted webhook secrets in `config get`."""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from tests.deliverability import providers as p
from tests.process import SITEMAIL, run_cli, sitemail_env


def _wait_for_line(path: Path, pattern: str, proc: subprocess.Popen[str]) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(pattern, path.read_text())
        if match:
            return match
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in:\n{path.read_text()}")


@pytest.mark.django_db(transaction=True)
def test_bounces_serve(tmp_path: Path) -> None:
    with sitemail_env(tmp_path / "data") as env:
        run_cli(env, "migrate")
        missing = run_cli(env, "bounces", "serve", "--listen", "127.0.0.1:0", check=False)
        assert missing.returncode == 1 and "email.bounces.domain is not set" in missing.stderr
        assert "Traceback" not in missing.stderr

        doc = tmp_path / "site.jsonc"
        doc.write_text(
            json.dumps(
                {
                    "email.address": "noreply@example.com",
                    "email.bounces": {"domain": "bounces.example.com"},
                    "email.webhooks": p.webhooks_config(),
                }
            )
        )
        run_cli(env, "config", "set", str(doc))
        shown = run_cli(env, "config", "get").stdout
        assert p.SECRET not in shown and p.MAILGUN_KEY not in shown and '"REDACTED"' in shown

        log = tmp_path / "bounces.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [SITEMAIL, "bounces", "serve", "--listen", "127.0.0.1:0"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        try:
            port = int(_wait_for_line(log, r"listening for bounces on 127\.0\.0\.1:(\d+)", proc)[1])
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("mx.example.net")
                client.mail("")
                assert client.rcpt("bounces@bounces.example.com")[0] == 250
                assert client.rcpt(f"bounces+{'a' * 39}@bounces.example.com")[0] == 550
                assert client.rcpt("root@example.com")[0] == 550
                code, _ = client.data(b"Subject: hello\r\n\r\nnot a report\r\n")
                assert code == 250
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        assert proc.returncode in (0, -15)
