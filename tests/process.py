"""`sitemail` as a real process: its own data dir (and PostgreSQL database), CLI, HTTP."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SITEMAIL = str(Path(sys.executable).with_name("sitemail"))
# What the test process's own database choice must not leak into a child.
_ISOLATED = {
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "SITEMAIL_TEST_POSTGRES",
    "SITEMAIL_DATA_DIR",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_params() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": int(db["PORT"] or 5432),
        "user": db["USER"],
        "password": db["PASSWORD"],
    }


@contextmanager
def sitemail_env(data_dir: Path) -> Iterator[dict[str, str]]:
    """Environment for child processes with their own data dir; on a PostgreSQL run (see
    SITEMAIL_TEST_POSTGRES) also their own fresh database, dropped afterwards."""
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATED}
    env["SITEMAIL_DATA_DIR"] = str(data_dir)
    if os.environ.get("SITEMAIL_TEST_POSTGRES") != "1":
        yield env
        return
    import psycopg

    params = _postgres_params()
    name = f"sitemail_proc_{secrets.token_hex(4)}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    auth = params["user"] + (f":{params['password']}" if params["password"] else "")
    env["DATABASE_URL"] = f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
    try:
        yield env
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SITEMAIL, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"sitemail {' '.join(args)} failed: {result.stderr}")
    return result


@contextmanager
def running_sitemail(env: dict[str, str], *args: str) -> Iterator[str]:
    """`sitemail serve --port P *args`, yielding its base URL once /healthz answers 200."""
    port = free_port()
    # A file, not a pipe: an unread pipe fills up and blocks the server's logging.
    log_path = Path(env["SITEMAIL_DATA_DIR"]).with_suffix(".serve.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [SITEMAIL, "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"sitemail serve did not become ready:\n{log_path.read_text()}"
                    )
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Instance:
    """A running `sitemail serve`, driven over HTTP (as `token`) and the CLI."""

    url: str
    env: dict[str, str]
    token: str = ""

    def cli(
        self, *args: str, check: bool = True, env_extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli({**self.env, **(env_extra or {})}, *args, check=check)

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        token = self.token if token is None else token
        headers = {"Authorization": f"token {token}"} if token else {}
        r = httpx.post(
            f"{self.url}/.api/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def set_config(self, doc: dict[str, Any]) -> Any:
        current = self.gql("{ site { configuration { id } } }")
        return self.gql(
            "mutation($id: Int!, $in: String!) "
            "{ updateSiteConfiguration(lastID: $id, input: $in) }",
            {"id": current["data"]["site"]["configuration"]["id"], "in": json.dumps(doc)},
        )


@contextmanager
def instance_with_admin(data_dir: Path, username: str, email: str) -> Iterator[Instance]:
    """A fresh server with a site admin made by the CLI and that admin's token."""
    with sitemail_env(data_dir) as env, running_sitemail(env) as url:
        inst = Instance(url=url, env=env)
        inst.cli(
            "users",
            "create",
            username,
            "--email",
            email,
            "--password",
            "a long enough password",
            "--site-admin",
        )
        inst.token = inst.cli("tokens", "create", username).stdout.strip().splitlines()[-1]
        yield inst
