"""`python -m bench delivery|peers|scale|monitors|dkim|ab [--smoke] [--json PATH] ...`."""

from __future__ import annotations

import argparse
import sys

from bench import ab, delivery, dkim, monitors, peers, scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("delivery", help="delivery throughput, enqueue, latency and memory")
    delivery.add_arguments(p)
    p = sub.add_parser("monitors", help="a code monitor trigger run next to git log -G/--grep")
    monitors.add_arguments(p)
    p = sub.add_parser("dkim", help="enqueue throughput with DKIM signing off, RSA and Ed25519")
    dkim.add_arguments(p)
    p = sub.add_parser("peers", help="sitemail next to post-office, mailer, Celery, plain Django")
    peers.add_arguments(p)
    p = sub.add_parser("scale", help="drain, /metrics, email log, retention at 1M outbox rows")
    scale.add_arguments(p)
    p = sub.add_parser("ab", help="this checkout's drain against another revision's, interleaved")
    ab.add_arguments(p)
    args = parser.parse_args(argv)
    runs = {
        "monitors": monitors.run,
        "peers": peers.run,
        "delivery": delivery.run,
        "dkim": dkim.run,
        "scale": scale.run,
        "ab": ab.run,
    }
    return runs[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
