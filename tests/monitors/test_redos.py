"""Audit finding 2: one regular expression must not freeze the server (RE2, off the event loop).

Against a real `sitemail serve`: a commit message of 29 `a`s and a `!`, searched with
`(a+)+$`, took 36.8 s with Python's backtracking `re` and blocked /healthz meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sitemail.monitors.query import QueryError, parse
from tests.monitors.conftest import GitRepo
from tests.process import Instance, instance_with_admin

REDOS = "type:commit patternType:regexp (a+)+$"


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    with instance_with_admin(tmp_path / "serve-data", "searcher", "searcher@example.com") as inst:
        yield inst


def _search(inst: Instance, query: str, client: httpx.Client | None = None) -> httpx.Response:
    # Clients made up front: making one (its SSL context) costs the test process ~30 ms of GIL.
    return (client or httpx.Client(timeout=30)).get(
        f"{inst.url}/search",
        params={"q": query},
        headers={"Authorization": f"token {inst.token}"},
    )


def test_redos_search_answers_fast_and_healthz_stays_fast(
    instance: Instance, make_repo: Any
) -> None:
    src: GitRepo = make_repo("victim")
    src.commit("a" * 29 + "!", {"a.txt": "a\n"})
    src.commit("aaa", {"b.txt": "b\n"})
    assert "Added repository" in instance.cli("repos", "add", str(src.path)).stdout

    assert _search(instance, "type:commit warm-up").status_code == 200  # first request: imports
    started = time.monotonic()
    one = _search(instance, REDOS, httpx.Client(timeout=5))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert one.status_code == 200 and "aaa" in one.text

    slowest: list[float] = []
    errors: list[BaseException] = []

    def search(client: httpx.Client) -> None:
        try:
            assert _search(instance, REDOS, client).status_code == 200
        except BaseException as exc:
            errors.append(exc)

    probe = httpx.Client(timeout=5)
    probe.get(f"{instance.url}/healthz")
    threads = [threading.Thread(target=search, args=(httpx.Client(timeout=30),)) for _ in range(10)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        assert probe.get(f"{instance.url}/healthz").status_code == 200
        slowest.append(time.monotonic() - t0)
    for t in threads:
        t.join()
    assert not errors, errors
    assert max(slowest) < 0.1, slowest


def test_what_re2_cannot_run_is_refused_with_the_column() -> None:
    for query, column in (
        ("type:diff patternType:regexp foo(?=bar)", 30),
        ("type:commit author:(a)\\1 fix", 13),
    ):
        with pytest.raises(QueryError) as caught:
            parse(query)
        assert caught.value.column == column, caught.value
        assert "RE2 syntax" in str(caught.value)
    # RE2 (Go) syntax that Python lacks or spells differently works.
    assert parse(r"type:diff patternType:regexp \pL+\z").pattern == r"\pL+\z"
