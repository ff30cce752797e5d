"""`sitemail` command line: serve, worker, migrate, users, tokens, config, test email, catcher."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

CATCHER_PORT = 2525


class CLIError(Exception):
    """A problem to report as one line, with exit status 1."""


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemail.settings")
    import django

    django.setup()


def _migrate(verbose: bool = False) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1 if verbose else 0)


# --- commands -------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> None:
    _migrate(verbose=True)


def cmd_serve(args: argparse.Namespace) -> None:
    from sitemail.serve import serve
    from sitemail.smtp import eventloop

    _migrate()
    eventloop.run(
        serve(
            host=args.host,
            port=args.port,
            worker=not args.no_worker,
            dev=args.dev,
            catcher_port=args.catcher_port,
            port_file=args.port_file,
        )
    )


def cmd_worker(args: argparse.Namespace) -> None:
    from sitemail.serve import run_worker
    from sitemail.smtp import eventloop

    for name in ("concurrency", "batch_size", "lease_seconds"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"sitemail worker: --{name.replace('_', '-')} must be > 0")
    eventloop.run(
        run_worker(
            concurrency=args.concurrency,
            batch_size=args.batch_size,
            lease_seconds=args.lease_seconds,
        )
    )


def cmd_users_create(args: argparse.Namespace) -> None:
    from sitemail.accounts import notify, passwords
    from sitemail.accounts.users import create_user

    user = create_user(
        args.username,
        args.email,
        password=args.password,
        site_admin=args.site_admin,
        verified=True,  # like createUser in the API: the CLI operator vouches for the address
    )
    role = "site admin" if user.site_admin else "user"
    print(f"Created {role} {user.username} <{args.email}> (id {user.pk})")
    if args.password:
        return
    # No password: the account is usable only through a set-password link.
    url = passwords.new_reset_url(user)
    if args.send_email:
        if not notify.email_enabled():
            raise CLIError("--send-email: email is disabled (set email.smtp); the link is: " + url)
        notify.send("set_password", args.email, {"username": user.username, "url": url})
        print(f"Emailed a set-password link to {args.email}.")
    else:
        print("Set the password with this link (or pass --send-email to mail it):")
        print(url)


def cmd_tokens_create(args: argparse.Namespace) -> None:
    from sitemail.accounts import tokens
    from sitemail.accounts.users import get_by_username

    user = get_by_username(args.username)
    row, secret = tokens.create(user, note=args.note or "")
    print(f"Created access token {row.pk} for {user.username}; it is shown only once:")
    print(secret)


def cmd_config_get(args: argparse.Namespace) -> None:
    from sitemail.siteconfig import service

    current = service.current()
    print(f"// version {current.id}", file=sys.stderr)
    print(service.effective_contents())


def cmd_config_set(args: argparse.Namespace) -> None:
    from sitemail.siteconfig import service

    try:
        text = Path(args.file).read_text() if args.file != "-" else sys.stdin.read()
    except OSError as exc:
        raise CLIError(f"cannot read {args.file}: {exc.strerror}") from exc
    last_id = args.last_id if args.last_id is not None else service.current().id
    try:
        new_id = service.update(last_id, text)
    except service.SiteConfigError as exc:
        raise CLIError("site configuration not saved:\n  " + "\n  ".join(exc.problems)) from exc
    print(f"Saved site configuration version {new_id}")
    for message in service.validation_messages():
        print(f"warning: {message}", file=sys.stderr)


def cmd_send_test_email(args: argparse.Namespace) -> None:
    from sitemail.outbox.test_email import send_test_email
    from sitemail.siteconfig import service

    result = asyncio.run(send_test_email(args.to))
    print(result)
    if not result.startswith("Sent "):
        # A hand-edited SITE_CONFIG_FILE is never validated by a save: its problems (such as a
        # nested "email": {...}) are often why the email settings look unset.
        for message in service.validation_messages():
            print(f"warning: site configuration: {message}", file=sys.stderr)
        raise SystemExit(1)


def cmd_dkim_keygen(args: argparse.Namespace) -> None:
    from sitemail.deliverability.dkim import Algorithm, DKIMKeyError
    from sitemail.deliverability.keygen import keygen
    from sitemail.siteconfig import service

    algorithm: Algorithm = "ed25519-sha256" if args.algorithm == "ed25519" else "rsa-sha256"
    try:
        key = keygen(args.selector, args.domain, algorithm, args.bits)
    except DKIMKeyError as exc:
        raise CLIError(str(exc)) from exc
    except service.SiteConfigError as exc:
        raise CLIError("DKIM key not saved:\n  " + "\n  ".join(exc.problems)) from exc
    print(f"Saved a new {algorithm} key in email.dkim (site configuration version {key.version})")
    print(f"Publish this TXT record at {key.record_name}:")
    print(f"  {key.record}")
    print("As a zone file line:")
    print(f"  {key.zone_line()}")
    for message in service.validation_messages():
        print(f"warning: {message}", file=sys.stderr)


def cmd_repos_add(args: argparse.Namespace) -> None:
    from sitemail.monitors import repos

    _migrate()
    try:
        repo = repos.add(args.source, args.name)
    except repos.RepoError as exc:
        raise CLIError(str(exc)) from exc
    print(f"Added repository {repo.name} (id {repo.pk}), mirrored at {repo.mirror_path}")


def cmd_orgs_invite(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from sitemail.accounts.models import User
    from sitemail.accounts.users import get_by_username
    from sitemail.orgs import bulk, service

    try:
        lines = Path(args.from_file).read_text().splitlines()
    except OSError as exc:
        raise CLIError(f"cannot read {args.from_file}: {exc.strerror}") from exc
    org = service.get_by_name(args.org)
    if args.sender:
        sender = get_by_username(args.sender)
    else:
        found = User.objects.filter(site_admin=True).order_by("pk").first()
        if found is None:
            raise CLIError("no site admin to send invitations as: pass --sender USERNAME")
        sender = found
    entries = bulk.entries_of(lines)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"Inviting to {org.name}", total=len(entries))

        def advance(_: str) -> None:
            progress.advance(task)
            progress.update(task, description=f"Inviting to {org.name}: {counts(summary)}")

        summary = bulk.Summary()
        bulk.invite_all(sender, org, entries, advance, resend=args.resend, summary=summary)
    print(f"{counts(summary)} (inviting to {org.name} as {sender.username}).")
    if summary.invited_without_email:
        print(f"Invited {len(summary.invited_without_email)} without email (email disabled).")
    if summary.resent:
        print(f"Resent {len(summary.resent)} pending invitation(s) with a new expiry.")
    for title, rows in (("Skipped", summary.skipped), ("Failed", summary.failed)):
        if rows:
            print(f"{title} {len(rows)}:")
            for entry, reason in rows:
                print(f"  {entry}: {reason}")


def counts(summary: Any) -> str:
    return (
        f"sent {len(summary.sent) + len(summary.resent)}, skipped {len(summary.skipped)}, "
        f"failed {len(summary.failed)}"
    )


def cmd_bounces_serve(args: argparse.Namespace) -> None:
    from sitemail.serve import run_bounces

    _migrate()
    asyncio.run(run_bounces(args.listen))


def cmd_mailcatcher(args: argparse.Namespace) -> None:
    from sitemail.serve import run_catcher

    _migrate()
    asyncio.run(run_catcher(args.host, args.port))


# --- parser ---------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, and a mistyped command gets the nearest one suggested."""

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            near = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.5)
            if near:
                message = f"unknown command '{found.group(1)}'; did you mean '{near[0]}'?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sitemail", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], None], help: str, parent: Any = sub
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("serve", cmd_serve, "migrate, then run the web server and a delivery worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3080)
    p.add_argument(
        "--no-worker", action="store_true", help="web only (run `sitemail worker` elsewhere)"
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help="also run the built-in mail catcher; point email.smtp at it when it is not set",
    )
    p.add_argument("--catcher-port", type=int, default=CATCHER_PORT)
    p.add_argument(
        "--port-file",
        metavar="FILE",
        help="write the port listened on to FILE once listening (e.g. with --port 0)",
    )

    p = add("worker", cmd_worker, "deliver queued email until stopped (SIGTERM drains)")
    p.add_argument("--concurrency", type=int, default=8, help="SMTP connections kept open")
    p.add_argument("--batch-size", type=int, default=100, help="messages claimed at a time")
    p.add_argument(
        "--lease-seconds",
        type=float,
        default=60,
        help="how long a claim is exclusive (renewed while sending); a worker that dies on "
        "another machine has its messages sent by others after this long",
    )

    add("migrate", cmd_migrate, "create or upgrade the database schema")

    users = add("users", lambda a: None, "manage users").add_subparsers(dest="sub", required=True)
    p = add("create", cmd_users_create, "create a user with a verified primary email", users)
    p.add_argument("username")
    p.add_argument("--email", required=True)
    p.add_argument("--password", help="without it, a set-password link is printed")
    p.add_argument("--site-admin", action="store_true")
    p.add_argument("--send-email", action="store_true", help="email the set-password link instead")

    tokens = add("tokens", lambda a: None, "manage access tokens").add_subparsers(
        dest="sub", required=True
    )
    p = add(
        "create",
        cmd_tokens_create,
        "create an access token; printed alone on the last line",
        tokens,
    )
    p.add_argument("username")
    p.add_argument("--note")

    config = add("config", lambda a: None, "read or replace the site configuration").add_subparsers(
        dest="sub", required=True
    )
    add("get", cmd_config_get, "print the site configuration (secrets REDACTED)", config)
    p = add(
        "set",
        cmd_config_set,
        "replace the site configuration with FILE (JSONC; - for stdin)",
        config,
    )
    p.add_argument("file")
    p.add_argument("--last-id", type=int, help="fail if the current version is not this one")

    p = add("send-test-email", cmd_send_test_email, "send a test email now and print the result")
    p.add_argument("to")

    dkim = add("dkim", lambda a: None, "DKIM signing keys").add_subparsers(
        dest="sub", required=True
    )
    p = add(
        "keygen",
        cmd_dkim_keygen,
        "make a DKIM key, store it in email.dkim and print the TXT record to publish",
        dkim,
    )
    p.add_argument("--selector", required=True, help="DNS label of the key, e.g. sitemail2026")
    p.add_argument("--domain", required=True, help="signing domain: the From domain or a parent")
    p.add_argument("--algorithm", choices=("rsa", "ed25519"), default="rsa")
    p.add_argument("--bits", type=int, default=2048, help="RSA key size (2048 or more)")

    repos = add("repos", lambda a: None, "manage mirrored git repositories").add_subparsers(
        dest="sub", required=True
    )
    p = add("add", cmd_repos_add, "mirror a git repository (local path or clone URL)", repos)
    p.add_argument("source", metavar="PATH_OR_URL")
    p.add_argument("--name", help="repository name (default: from the path or URL)")

    orgs = add("orgs", lambda a: None, "manage organizations").add_subparsers(
        dest="sub", required=True
    )
    p = add("invite", cmd_orgs_invite, "invite addresses or usernames listed in a file", orgs)
    p.add_argument("org")
    p.add_argument("--from-file", required=True, help="one address or username a line")
    p.add_argument("--sender", help="username sending the invitations (default: a site admin)")
    p.add_argument(
        "--resend",
        action="store_true",
        help="send pending invitations again (new expiry) instead of skipping them",
    )

    bounces = add("bounces", lambda a: None, "bounces and complaints by mail").add_subparsers(
        dest="sub", required=True
    )
    p = add(
        "serve",
        cmd_bounces_serve,
        "run the inbound SMTP listener for DSNs and ARF reports (email.bounces)",
        bounces,
    )
    p.add_argument("--listen", help="HOST:PORT (default: email.bounces.listen)")

    p = add("mailcatcher", cmd_mailcatcher, "run only the built-in mail catcher")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=CATCHER_PORT)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        _setup()
        args.func(args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except SystemExit:
        raise
    except Exception as exc:  # one clear line, never a traceback
        raise SystemExit(f"sitemail: error: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    from django.db import DatabaseError

    if isinstance(exc, DatabaseError) and "no such table" in str(exc):
        return f"{exc}; run `sitemail migrate` first"
    if isinstance(exc, DatabaseError):
        return f"database: {exc}".strip()
    return str(exc) or type(exc).__name__


if __name__ == "__main__":
    main()
