"""Item 8: externalURL's default is the address `serve` binds; `serve` warns when they differ."""

from __future__ import annotations

import json
from pathlib import Path

from tests.process import run_cli, running_sitemail, sitemail_env


def test_default_external_url_is_the_bound_address_and_a_mismatch_warns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with sitemail_env(data) as env:
        with running_sitemail(env) as url:
            config = run_cli(env, "config", "get").stdout
            assert f'"externalURL": "{url}"' in config  # links in emails open this very server
        log = data.with_suffix(".serve.log").read_text()
        assert "externalURL is" not in log

        doc = tmp_path / "site.jsonc"
        doc.write_text(json.dumps({"externalURL": "http://localhost:3080"}))
        run_cli(env, "config", "set", str(doc))
        with running_sitemail(env) as url:
            pass
        log = data.with_suffix(".serve.log").read_text()
        assert (
            f"externalURL is http://localhost:3080 but this server listens on {url}: links in "
            "emails open http://localhost:3080"
        ) in log
        # A URL set on purpose is never overwritten.
        assert '"externalURL": "http://localhost:3080"' in run_cli(env, "config", "get").stdout
