"""Postfix's smtp-sink on a free loopback port, and smtp-source runs against it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

from bench import sysinfo


class MissingTool(RuntimeError):
    """smtp-sink / smtp-source are not installed (Debian package `postfix`)."""


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise MissingTool(
            f"{name} not found: install Debian's postfix (DEBIAN_FRONTEND=noninteractive "
            "apt-get install -y postfix; the mail daemon need not run)"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """One smtp-sink for the whole run: accepts and discards everything, single-threaded."""

    def __init__(self) -> None:
        self.port = free_port()
        cmd = [tool("smtp-sink")]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]  # smtp-sink refuses to run as root otherwise
        cmd += [f"127.0.0.1:{self.port}", "1024"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"smtp-sink did not start: {err}")
            time.sleep(0.05)

    def cpu(self) -> float:
        return sysinfo.process_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class SourceResult:
    seconds: float
    cpu: float


def smtp_source(port: int, *, messages: int, sessions: int, reuse: bool) -> SourceResult:
    """smtp-source sending `messages` of 4096 bytes; reuse: keep each session's connection."""
    cmd = [tool("smtp-source"), "-l", "4096", "-m", str(messages), "-s", str(sessions)]
    if reuse:
        cmd.insert(1, "-d")
    cmd.append(f"127.0.0.1:{port}")
    before = os.times()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return SourceResult(seconds, cpu)
