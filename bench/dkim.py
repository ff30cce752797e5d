"""`python -m bench dkim [--smoke] [--n N] [--rounds R] [--json PATH]`: enqueue throughput with
DKIM signing off, rsa-sha256 (2048-bit) and ed25519-sha256, side by side in one run.

Each round enqueues N ~4 KB messages through outbox.enqueue_many (render, build, sign, INSERT)
once per mode, modes interleaved so drift hits all alike, on a fresh SQLite database (or
DATABASE_URL's PostgreSQL with --postgres). Reported: median emails/s per mode, its ratio to
DKIM off, and the signing cost per message.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODES = ("off", "rsa-sha256 2048", "ed25519-sha256")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smoke", action="store_true", help="a few messages, one round")
    p.add_argument("--n", type=int, default=2000, help="messages enqueued per round and mode")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--postgres", action="store_true", help="use DATABASE_URL, not SQLite")
    p.add_argument("--json", help="also write the report here")


def _setup(postgres: bool) -> None:
    if not postgres:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("SITEMAIL_TEST_POSTGRES", None)  # else settings fall back to CI's database
        os.environ["SITEMAIL_DATA_DIR"] = tempfile.mkdtemp(prefix="sitemail-bench-dkim-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemail.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def _site(keys: dict[str, str]) -> dict[str, Any]:
    """{mode: the site settings for it}: one saved document, DKIM set per mode on its copy."""
    from dataclasses import replace

    from sitemail.siteconfig import service
    from sitemail.siteconfig.typed import DKIMConfig

    service.patch(
        {
            ("externalURL",): "https://sourcegraph.example.com",
            ("email.address",): "noreply@example.com",
            ("email.smtp",): {"host": "127.0.0.1", "port": 25, "authentication": "none"},
        }
    )
    base = service.get_settings()
    return {
        mode: base
        if mode == "off"
        else replace(
            base, email=replace(base.email, dkim=DKIMConfig("example.com", "bench", keys[mode]))
        )
        for mode in MODES
    }


def _round(settings: Any, n: int, offset: int) -> float:
    from django.db import connection

    from bench.child import _messages
    from sitemail.outbox import enqueue_many
    from sitemail.outbox.models import OutboxMessage

    messages = _messages(n, offset)
    before = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
    start = time.perf_counter()
    enqueue_many("django", messages, settings=settings)
    seconds = time.perf_counter() - start
    with connection.cursor() as cursor:  # only this round's rows: others may have events
        cursor.execute(f"DELETE FROM {OutboxMessage._meta.db_table} WHERE id > %s", [before])  # noqa: S608
    return n / seconds


def run(opts: argparse.Namespace) -> int:
    n, rounds = (50, 1) if opts.smoke else (opts.n, opts.rounds)
    _setup(opts.postgres)
    from sitemail.deliverability import dkim

    keys = {"off": "", "rsa-sha256 2048": dkim.generate_key("rsa-sha256", 2048)}
    keys["ed25519-sha256"] = dkim.generate_key("ed25519-sha256")
    settings = _site(keys)
    _round(settings["off"], min(n, 200), 0)  # warm-up: templates, caches, the first INSERT
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for r in range(rounds):
        for mode in MODES:
            rates[mode].append(_round(settings[mode], n, (r + 1) * n * 10))
            print(f"round {r}: {mode}: {rates[mode][-1]:.0f} emails/s", file=sys.stderr)
    median = {mode: statistics.median(v) for mode, v in rates.items()}
    ratio = {m: median[m] / median["off"] for m in MODES}
    sign_ms = {m: 1000 / median[m] - 1000 / median["off"] for m in MODES if m != "off"}
    report: dict[str, Any] = {
        "n": n,
        "rounds": rounds,
        "database": "postgresql" if opts.postgres else "sqlite",
        "enqueue_rate": {m: {"median": median[m], "runs": rates[m]} for m in MODES},
        "ratio_to_off": ratio,
        "sign_ms_per_message": sign_ms,
    }
    for mode in MODES:
        print(f"enqueue, DKIM {mode}: {median[mode]:.0f} emails/s ({ratio[mode]:.2f} x off)")
    for mode, ms in sign_ms.items():
        print(f"signing cost, {mode}: {ms:.3f} ms per message")
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=2))
    return 0
