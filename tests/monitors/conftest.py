"""Code monitor fixtures: real git repositories built with the git CLI, site config, delivery."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts import tokens
from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.outbox.worker import Worker
from sitemail.siteconfig import service as siteconfig
from tests.smtpserver import Received, ServerFactory, TestSMTPServer

EXTERNAL_URL = "https://sg.example.com"
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_COMMITTER_NAME": "Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}


@dataclass
class GitRepo:
    """A working repository the tests commit to (with the git CLI, like a developer)."""

    path: Path

    def git(self, *args: str, **env: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **_GIT_ENV, **env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def commit(
        self,
        message: str,
        files: dict[str, str],
        author: str = "Alice Dev <alice@example.com>",
    ) -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            self.git("add", name)
        name, _, email = author.partition(" <")
        self.git(
            "commit",
            "-q",
            "-m",
            message,
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email.rstrip(">"),
        )
        return self.git("rev-parse", "HEAD").strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Any:
    """make_repo(name) -> a new repository with one initial commit on `main`."""

    def make(name: str = "project") -> GitRepo:
        repo = GitRepo(tmp_path / "src" / name)
        repo.path.mkdir(parents=True)
        repo.git("init", "-q", "-b", "main")
        repo.commit("Initial commit", {"README.md": "# project\n"})
        return repo

    return make


@pytest.fixture(autouse=True)
def own_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test's mirrors live in its own directory (the site config is reset in tests/)."""
    from django.conf import settings

    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "data")


@pytest.fixture
def smtp(smtp_server: ServerFactory, db: None) -> TestSMTPServer:
    """A real SMTP server the site is configured to send through."""
    server = smtp_server(auth=())
    siteconfig.patch(
        {
            ("externalURL",): EXTERNAL_URL,
            ("email.address",): "noreply@example.com",
            ("email.smtp",): server.site_config(),
        }
    )
    siteconfig.clear_cache()
    return server


@pytest.fixture
def alice(db: None) -> User:
    return create_user("alice", "alice@example.com", password="correct horse battery")


@pytest.fixture
def admin(db: None) -> User:
    return create_user("admin", "admin@example.com", site_admin=True)


def deliver() -> int:
    """Run the real outbox worker until the queue is empty; returns how many it processed."""

    async def go() -> int:
        total = 0
        async with Worker() as worker:
            while n := await worker.run_until_idle():
                total += n
        return total

    return asyncio.run(go())


def subjects(messages: list[Received]) -> list[str]:
    return [str(m.message["Subject"]) for m in messages]


def text_of(received: Received) -> str:
    part = received.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(received: Received) -> str:
    part = received.message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


@dataclass
class Api:
    """GraphQL over the Django test client, authenticated with an access token."""

    token: str

    def __call__(self, query: str, **variables: Any) -> Any:
        response = Client().post(
            "/.api/graphql",
            data=json.dumps({"query": query, "variables": variables}),
            content_type="application/json",
            headers={"Authorization": f"token {self.token}"},
        )
        assert response.status_code == 200, response.content
        return json.loads(response.content)


@pytest.fixture
def api_as() -> Any:
    """api_as(user) -> Api for that user (a new access token)."""
    return lambda user: Api(tokens.create(user, note="test")[1])
