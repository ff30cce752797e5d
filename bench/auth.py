"""PLAIN against XOAUTH2 in front of smtp-sink: an OAuth 2.0 token endpoint and an AUTH front.

smtp-sink offers only AUTH PLAIN LOGIN and answers any AUTH with 250 (not 235), so the front
relays the session to it but answers AUTH itself: PLAIN with the bench password, XOAUTH2 with a
token the TokenServer issued and that has not expired. After AUTH it is a plain byte pump, the
same for both mechanisms, so their difference is what sitemail spends on getting and sending
the token (the token is not on the per-message path: it should be none).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from bench.latency import LoopbackServer

MECHANISMS = ("PLAIN", "XOAUTH2")
USER, PASSWORD = "bench@example.com", "bench-password"
CLIENT_ID, CLIENT_SECRET = "bench-app", "bench-secret"


class TokenServer:
    """Client-credentials token endpoint on loopback; counts requests."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self.issued: dict[str, float] = {}
        self.requests = 0
        self.lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self._http.daemon_threads = True
        self._http.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/token"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.issued[token] = time.time() + self.lifetime
        return 200, {"access_token": token, "expires_in": int(self.lifetime)}

    def valid(self, token: str) -> bool:
        with self.lock:
            return self.issued.get(token, 0.0) > time.time()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


class _TokenHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        owner: TokenServer = self.server.owner  # type: ignore[attr-defined]
        status, payload = owner.issue({k: v[0] for k, v in parse_qs(raw).items()})
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AuthFront(LoopbackServer):
    """127.0.0.1:port -> smtp-sink at `target`, answering AUTH PLAIN / XOAUTH2 itself."""

    name = "auth-front"

    def __init__(self, target: int, tokens: TokenServer) -> None:
        self.target = target
        self.tokens = tokens
        self.auths: dict[str, int] = {"PLAIN": 0, "XOAUTH2": 0, "refused": 0}
        super().__init__()

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            self._from_client(client_r, server_w, client_w), self._from_server(server_r, client_w)
        )

    async def _from_client(
        self,
        reader: asyncio.StreamReader,
        server: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
    ) -> None:
        try:
            while line := await reader.readline():  # line by line until AUTH, then raw
                if line[:5].upper() == b"AUTH ":
                    client.write(self._auth(line.decode().split()))
                    break
                server.write(line)
            while chunk := await reader.read(65536):
                server.write(chunk)
        except ConnectionError:
            pass
        server.close()

    async def _from_server(
        self, reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():  # rewrite the EHLO reply's AUTH line
                if line.startswith(b"250-AUTH "):
                    line = b"250-AUTH PLAIN LOGIN XOAUTH2\r\n"
                client.write(line)
                if line.startswith(b"250 "):
                    break
            while chunk := await reader.read(65536):
                client.write(chunk)
        except ConnectionError:
            pass
        client.close()

    def _auth(self, words: list[str]) -> bytes:
        mechanism = words[1].upper() if len(words) > 1 else ""
        blob = base64.b64decode(words[2]) if len(words) > 2 else b""
        ok = False
        if mechanism == "PLAIN":
            ok = blob == f"\x00{USER}\x00{PASSWORD}".encode()
        elif mechanism == "XOAUTH2":
            fields = dict(f.split("=", 1) for f in blob.decode().split("\x01") if "=" in f)
            bearer = fields.get("auth", "")
            ok = fields.get("user") == USER and self.tokens.valid(bearer.removeprefix("Bearer "))
        key = mechanism if ok else "refused"
        self.auths[key] = self.auths.get(key, 0) + 1
        return b"235 2.7.0 Authentication successful\r\n" if ok else b"535 5.7.8 refused\r\n"


def smtp_doc(port: int, mechanism: str, token_url: str) -> dict[str, Any]:
    """`email.smtp` for the bench worker through the front."""
    doc: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",  # loopback: sitemail allows a password or token in clear
        "domain": "bench.example.com",
        "authentication": mechanism,
        "username": USER,
    }
    if mechanism == "PLAIN":
        doc["password"] = PASSWORD
    else:
        doc["oauth"] = {
            "tokenURL": token_url,
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "scope": "smtp",
        }
    return doc
