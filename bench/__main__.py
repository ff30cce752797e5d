"""`python -m bench delivery|monitors|dkim [--smoke] [--n N] [--rounds R] [--json PATH]`."""

from __future__ import annotations

import argparse
import sys

from bench import delivery, dkim, monitors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("delivery", help="delivery throughput, enqueue, latency and memory")
    delivery.add_arguments(p)
    p = sub.add_parser("monitors", help="a code monitor trigger run next to git log -G/--grep")
    monitors.add_arguments(p)
    p = sub.add_parser("dkim", help="enqueue throughput with DKIM signing off, RSA and Ed25519")
    dkim.add_arguments(p)
    args = parser.parse_args(argv)
    if args.command == "dkim":
        return dkim.run(args)
    return monitors.run(args) if args.command == "monitors" else delivery.run(args)


if __name__ == "__main__":
    sys.exit(main())
