"""A real OAuth 2.0 token endpoint on loopback for tests: client credentials (secret or a
certificate assertion whose signature is checked), Google's JWT bearer grant (RFC 7523, the
signature checked against the service account's public key), refresh tokens, and the
authorization-code flow with PKCE (a sign-in page for Connect account). Errors come in
Microsoft's format (AADSTS codes) or Google's. The tokens it issues are what the in-process
SMTP server (tests/smtpserver.py, oauth=...) accepts, while they are valid on `clock`.

    endpoint = TokenEndpoint(style="microsoft", lifetime=60).start()
    endpoint.add_client("app", "s3cret")
    url = endpoint.token_url           # http://127.0.0.1:<port>/tenant/oauth2/v2.0/token
    endpoint.requests                  # Counter by grant_type
    endpoint.check(user, token)        # None if valid, else the SMTP failure reply
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

Style = Literal["microsoft", "google"]
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Issued:
    token: str
    subject: str  # the mailbox it is for ("" for an app token: any mailbox the app may use)
    expires_at: float
    client: str


@dataclass
class ServiceAccount:
    email: str
    key_id: str
    private_pem: str
    public_pem: bytes
    delegated: set[str] = field(default_factory=set)  # mailboxes it may act for

    def key_json(self, token_uri: str) -> dict[str, str]:
        return {
            "type": "service_account",
            "client_email": self.email,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "token_uri": token_uri,
        }


def new_key() -> tuple[str, bytes]:
    """A fresh RSA key: (PKCS#8 PEM private, PEM public)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


class TokenEndpoint:
    """The token (and authorize) endpoint; thread-safe; stop() when done."""

    __test__ = False

    def __init__(
        self,
        *,
        style: Style = "microsoft",
        lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
        tenant: str = "tenant-1",
    ) -> None:
        self.style = style
        self.lifetime = lifetime
        self.clock = clock
        self.tenant = tenant
        self.lock = threading.Lock()
        self.secrets: dict[str, str] = {}
        self.certificates: dict[str, x509.Certificate] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (client, account)
        self.codes: dict[str, tuple[str, str, str, str]] = {}  # code -> client, acct, chal, uri
        self.issued: dict[str, Issued] = {}
        self.revoked: set[str] = set()
        self.requests: Counter[str] = Counter()
        self.bodies: list[dict[str, str]] = []
        self.delay = 0.0  # seconds each token request takes (to widen races)
        self.sign_in_as = "mailbox@example.com"  # who "signs in" on the authorize page
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.endpoint = self  # type: ignore[attr-defined]
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    # ---- set-up
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        if self.style == "microsoft":
            return f"{self.base}/{self.tenant}/oauth2/v2.0/token"
        return f"{self.base}/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.base}/authorize"

    def add_client(self, client_id: str, secret: str) -> None:
        self.secrets[client_id] = secret

    def add_certificate_client(self, client_id: str) -> str:
        """Register an app with a certificate credential; returns its PEM (key + cert)."""
        private, _ = new_key()
        key = serialization.load_pem_private_key(private.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, client_id)])
        now = time.time()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.fromtimestamp(now - 60, dt.UTC))
            .not_valid_after(dt.datetime.fromtimestamp(now + 86400, dt.UTC))
            .sign(key, hashes.SHA256())
        )
        self.certificates[client_id] = cert
        return private + cert.public_bytes(serialization.Encoding.PEM).decode()

    def add_service_account(self, email: str, delegated: set[str]) -> ServiceAccount:
        private, public = new_key()
        account = ServiceAccount(email, secrets.token_hex(8), private, public, set(delegated))
        self.service_accounts[email] = account
        return account

    def add_refresh_token(self, client_id: str, account: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[token] = (client_id, account)
        return token

    def revoke_all(self) -> None:
        """Every access token issued so far is refused by the SMTP server from now on."""
        with self.lock:
            self.revoked |= set(self.issued)

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()

    # ---- what the SMTP server asks
    def check(self, user: str, token: str) -> str | None:
        """None if `token` is a valid token for `user` now, else the SMTP reply to give."""
        with self.lock:
            issued = self.issued.get(token)
            revoked = token in self.revoked
        if issued is None or revoked or issued.expires_at <= self.clock():
            return "535 5.7.3 Authentication unsuccessful"
        if issued.subject and issued.subject.lower() != user.lower():
            return "535 5.7.3 Authentication unsuccessful"
        return None

    @property
    def token_requests(self) -> int:
        with self.lock:
            return sum(self.requests.values())

    # ---- lifecycle
    def start(self) -> TokenEndpoint:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TokenEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the grants
    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant_type = form.get("grant_type", "")
        with self.lock:
            self.requests[grant_type] += 1
            self.bodies.append(form)
        if self.delay:
            time.sleep(self.delay)
        if grant_type == "client_credentials":
            return self._client_credentials(form)
        if grant_type == _JWT_BEARER:
            return self._jwt_bearer(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        if grant_type == "authorization_code":
            return self._code(form)
        return self._error(400, "unsupported_grant_type", 7000218, "unsupported grant")

    def _client_credentials(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        refusal = self._client_auth(form)
        if refusal is not None:
            return refusal
        return 200, self._issue("", form["client_id"])

    def _client_auth(self, form: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        client = form.get("client_id", "")
        if client not in self.secrets and client not in self.certificates:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client}' was not found in the directory "
                f"'{self.tenant}'.",
            )
        if "client_assertion" in form:
            return self._check_assertion(client, form["client_assertion"])
        if not secrets.compare_digest(self.secrets.get(client, ""), form.get("client_secret", "")):
            return self._error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{client}'.",
            )
        return None

    def _check_assertion(self, client: str, assertion: str) -> tuple[int, dict[str, Any]] | None:
        cert = self.certificates.get(client)
        public = (
            cert.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if cert is not None
            else b""
        )
        try:
            claims = self._verified(assertion, public)
        except (JoseError, ValueError):
            return self._error(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            )
        if claims.get("aud") != self.token_url or claims.get("iss") != client:
            return self._error(
                401, "invalid_client", 700027, "Client assertion audience claim does not match."
            )
        return None

    def _verified(self, assertion: str, public_pem: bytes) -> dict[str, Any]:
        """The claims, once the RS256 signature verifies with the public key and exp/nbf hold."""
        token = jwt.decode(assertion, RSAKey.import_key(public_pem), algorithms=["RS256"])
        registry = jwt.JWTClaimsRegistry(now=int(self.clock()), exp={"essential": True})
        registry.validate(token.claims)
        return dict(token.claims)

    def _jwt_bearer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assertion = form.get("assertion", "")
        try:
            unverified = json.loads(_b64(assertion.split(".")[1]))
            account = self.service_accounts[unverified["iss"]]
            claims = self._verified(assertion, account.public_pem)
        except (JoseError, ValueError, KeyError, IndexError):
            return self._error(400, "invalid_grant", 0, "Invalid JWT Signature.")
        if claims.get("aud") != self.token_url:
            return self._error(
                400,
                "invalid_grant",
                0,
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        subject = str(claims.get("sub", ""))
        if not account.delegated or claims.get("scope") != "https://mail.google.com/":
            # Domain-wide delegation not granted (for this scope) in the Admin console.
            return self._error(
                401,
                "unauthorized_client",
                0,
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
            )
        if subject not in account.delegated:
            return self._error(400, "invalid_grant", 0, "Invalid email or User ID")
        return 200, self._issue(subject, account.email)

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        refusal = self._client_auth(form)
        if refusal is not None:
            return refusal
        with self.lock:
            found = self.refresh_tokens.get(form.get("refresh_token", ""))
        if found is None or found[0] != form.get("client_id"):
            return self._error(
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity."
                if self.style == "microsoft"
                else "Token has been expired or revoked.",
            )
        return 200, self._issue(found[1], found[0])

    def _code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        refusal = self._client_auth(form)
        if refusal is not None:
            return refusal
        with self.lock:
            found = self.codes.pop(form.get("code", ""), None)
        if found is None:
            return self._error(
                400, "invalid_grant", 70008, "The provided authorization code is invalid."
            )
        client, account, challenge, redirect = found
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if digest.decode() != challenge or form.get("redirect_uri") != redirect:
            return self._error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request for PKCE.",
            )
        reply = self._issue(account, client)
        reply["refresh_token"] = self.add_refresh_token(client, account)
        return 200, reply

    def _issue(self, subject: str, client: str) -> dict[str, Any]:
        token = "at-" + secrets.token_urlsafe(32)
        with self.lock:
            self.issued[token] = Issued(token, subject, self.clock() + self.lifetime, client)
        return {"token_type": "Bearer", "access_token": token, "expires_in": int(self.lifetime)}

    def _error(self, status: int, error: str, code: int, text: str) -> tuple[int, dict[str, Any]]:
        if self.style == "microsoft":
            return status, {
                "error": error,
                "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 0000\r\n"
                "Correlation ID: 1111\r\nTimestamp: 2026-12-02 00:00:00Z",
                "error_codes": [code],
                "trace_id": "0000",
            }
        return status, {"error": error, "error_description": text}

    # ---- authorize (Connect account)
    def authorize_page(self, query: dict[str, str]) -> tuple[int, str, str | None]:
        """(status, html, redirect): a sign-in page; ?approve=1 redirects with a code."""
        client = query.get("client_id", "")
        if client not in self.secrets:
            return 400, "unknown client", None
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, "PKCE required", None
        if query.get("approve") == "1":
            code = secrets.token_urlsafe(16)
            with self.lock:
                self.codes[code] = (
                    client,
                    self.sign_in_as,
                    query["code_challenge"],
                    query.get("redirect_uri", ""),
                )
            target = (
                query.get("redirect_uri", "")
                + "?"
                + urlencode({"code": code, "state": query.get("state", "")})
            )
            return 302, "", target
        approve = "/authorize?" + urlencode({**query, "approve": "1"})
        html = (
            "<!doctype html><title>Sign in</title><h1>Test identity provider</h1>"
            f"<p>Sign in as <b>{self.sign_in_as}</b> and let the app send mail?</p>"
            f'<a id="approve" href="{approve}">Accept</a>'
        )
        return 200, html, None


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def endpoint(self) -> TokenEndpoint:
        endpoint: TokenEndpoint = self.server.endpoint  # type: ignore[attr-defined]
        return endpoint

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        status, payload = self.endpoint.grant(form)
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/authorize":
            self.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        status, html, target = self.endpoint.authorize_page(query)
        body = html.encode()
        self.send_response(status)
        if target is not None:
            self.send_header("Location", target)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
