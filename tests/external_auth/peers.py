"""Real protocol peers for external-auth tests, each an HTTP server thread on 127.0.0.1:0.

- OIDCProvider: an OpenID Connect provider built from authlib's server components
  (rfc6749 AuthorizationServer + AuthorizationCodeGrant, rfc7636 CodeChallenge, oidc.core
  OpenIDCode), with discovery, JWKS, token and userinfo endpoints. Its "login" approves the
  user the test set in `.user`, as a real provider does after its own login page.
- GitHubStandIn: a LOCAL STAND-IN for github.com (unreachable here), implementing GitHub's
  documented OAuth web flow (/login/oauth/authorize, /login/oauth/access_token) and the REST
  endpoints sitemail calls (/api/v3/user, /api/v3/user/emails, /api/v3/user/orgs) as GitHub
  Enterprise serves them. It is not GitHub: it only follows GitHub's documented shapes.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

Response = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, str, dict[str, str], Any], Response]


class _Server:
    """A ThreadingHTTPServer calling `handle(method, path, params, headers)`."""

    def __init__(self, handle: Handler) -> None:
        outer = handle

        class RequestHandler(BaseHTTPRequestHandler):
            def _run(self, method: str) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    params.update(parse_qsl(self.rfile.read(length).decode()))
                status, headers, body = outer(method, parts.path, params, self.headers)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._run("GET")

            def do_POST(self) -> None:
                self._run("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(status: int, value: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


# --------------------------------------------------------------------- OpenID Connect


class _Client(ClientMixin):
    def __init__(self, client_id: str, secret: str, redirect_uri: str) -> None:
        self.client_id, self.secret, self.redirect_uri = client_id, secret, redirect_uri

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class _Code(AuthorizationCodeMixin):
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def get_redirect_uri(self) -> str:
        return str(self.redirect_uri)

    def get_scope(self) -> str:
        return str(self.scope)

    def get_nonce(self) -> str | None:
        return self.nonce  # type: ignore[no-any-return]

    def get_auth_time(self) -> int:
        return int(self.auth_time)

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class _Payload(OAuth2Payload):
    def __init__(self, data: dict[str, str]) -> None:
        self._data = data

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {k: [v] for k, v in self._data.items()}


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Any, data: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = _Payload(data)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class OIDCProvider:
    """An OpenID Connect provider for one client (see the module docstring)."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.user: dict[str, Any] = {}
        self.tamper_id_token = False
        self.codes: dict[str, _Code] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.client = _Client(client_id, client_secret, redirect_uri)
        self._server = _Server(self._handle)
        self.issuer = self._server.url
        self.authz = self._authorization_server()

    def site_config(self, **options: Any) -> dict[str, Any]:
        """An `auth.providers` entry for this provider."""
        return {
            "type": "openidconnect",
            "issuer": self.issuer,
            "clientID": self.client.client_id,
            "clientSecret": self.client.secret,
            **options,
        }

    def close(self) -> None:
        self._server.close()

    def _authorization_server(self) -> AuthorizationServer:
        provider = self

        class Grant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                provider.codes[code] = _Code(
                    code=code,
                    client_id=request.client.get_client_id(),
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope,
                    user=request.user,
                    nonce=data.get("nonce"),
                    auth_time=int(time.time()),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Any) -> _Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> dict[str, Any]:
                return authorization_code.user  # type: ignore[no-any-return]

        class OpenID(OpenIDCode):
            def resolve_client_private_key(self, client: Any) -> RSAKey:
                return provider.key

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                return {"iss": provider.issuer}

            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
                return UserInfo(user)

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> _Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                provider.tokens[token["access_token"]] = request.user

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

            def create_oauth2_request(self, request: Any) -> OAuth2Request:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Response:
                raw = body if isinstance(body, str) else json.dumps(body)
                return status, dict(headers), raw.encode()

        server = Server()
        server.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32))
        )
        server.register_grant(Grant, [CodeChallenge(required=True), OpenID(require_nonce=True)])
        return server

    def _handle(self, method: str, path: str, params: dict[str, str], headers: Any) -> Response:
        uri = self.issuer + path
        if path == "/.well-known/openid-configuration":
            return _json(
                200,
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": self.issuer + "/authorize",
                    "token_endpoint": self.issuer + "/token",
                    "userinfo_endpoint": self.issuer + "/userinfo",
                    "jwks_uri": self.issuer + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if path == "/jwks":
            return _json(200, {"keys": [self.key.as_dict(private=False)]})
        if path == "/authorize":
            request = _Request(method, uri + "?" + urlencode(params), headers, params)
            return self.authz.create_authorization_response(request, grant_user=dict(self.user))  # type: ignore[no-any-return]
        if path == "/token" and method == "POST":
            request = _Request(method, uri, headers, params)
            status, head, body = self.authz.create_token_response(request)
            if self.tamper_id_token and status == 200:
                body = _tamper(body)
            return status, head, body
        if path == "/userinfo":
            user = self.tokens.get(str(headers.get("Authorization", "")).removeprefix("Bearer "))
            return _json(200, user) if user else _json(401, {"error": "invalid_token"})
        return _json(404, {"error": "not found"})


def _tamper(body: bytes) -> bytes:
    """Swap the ID token's email claim, keeping the original signature (which no longer fits)."""
    token = json.loads(body)
    header, payload, signature = token["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "admin@example.com"
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token["id_token"] = f"{header}.{forged}.{signature}"
    return json.dumps(token).encode()


@contextmanager
def oidc_provider(redirect_uri: str) -> Iterator[OIDCProvider]:
    provider = OIDCProvider("sitemail-client", secrets.token_urlsafe(16), redirect_uri)
    try:
        yield provider
    finally:
        provider.close()


# --------------------------------------------------------------------- GitHub stand-in


class GitHubStandIn:
    """A LOCAL STAND-IN for GitHub (github.com is unreachable here): GitHub's documented OAuth
    web flow and the /user, /user/emails and /user/orgs REST endpoints, served like GitHub
    Enterprise (API under /api/v3/). The test sets `.user`, `.emails` and `.orgs`."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id, self.client_secret, self.redirect_uri = (
            client_id,
            client_secret,
            redirect_uri,
        )
        self.user: dict[str, Any] = {"id": 1, "login": "octocat", "name": "The Octocat"}
        self.emails: list[dict[str, Any]] = []
        self.orgs: list[dict[str, Any]] = []
        self.scopes: list[str] = []  # the scope of each authorization request
        self.codes: dict[str, str] = {}
        self.tokens: set[str] = set()
        self._server = _Server(self._handle)
        self.url = self._server.url + "/"

    def site_config(self, **options: Any) -> dict[str, Any]:
        return {
            "type": "github",
            "url": self.url,
            "clientID": self.client_id,
            "clientSecret": self.client_secret,
            **options,
        }

    def close(self) -> None:
        self._server.close()

    def _client_ok(self, params: dict[str, str], headers: Any) -> bool:
        auth = str(headers.get("Authorization", ""))
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        return client_id == self.client_id and secrets.compare_digest(secret, self.client_secret)

    def _handle(self, method: str, path: str, params: dict[str, str], headers: Any) -> Response:
        if path == "/login/oauth/authorize":
            if params.get("client_id") != self.client_id:
                return _json(404, {"error": "unknown client"})
            if params.get("redirect_uri") != self.redirect_uri:
                return _json(400, {"error": "redirect_uri_mismatch"})
            self.scopes.append(params.get("scope", ""))
            code = secrets.token_hex(10)
            self.codes[code] = params["redirect_uri"]
            query = urlencode({"code": code, "state": params.get("state", "")})
            return 302, {"Location": f"{params['redirect_uri']}?{query}"}, b""
        if path == "/login/oauth/access_token" and method == "POST":
            # GitHub answers token errors with HTTP 200 and an "error" member.
            if not self._client_ok(params, headers):
                return _json(200, {"error": "incorrect_client_credentials"})
            if self.codes.pop(params.get("code", ""), None) is None:
                return _json(200, {"error": "bad_verification_code"})
            token = "gho_" + secrets.token_hex(16)
            self.tokens.add(token)
            return _json(
                200, {"access_token": token, "token_type": "bearer", "scope": "user:email"}
            )
        auth = str(headers.get("Authorization", ""))
        if auth.split(" ", 1)[-1] not in self.tokens:
            return _json(401, {"message": "Bad credentials"})
        api = {
            "/api/v3/user": self.user,
            "/api/v3/user/emails": self.emails,
            "/api/v3/user/orgs": self.orgs,
        }
        if path in api:
            return _json(200, api[path])
        return _json(404, {"message": "Not Found"})


@contextmanager
def github_stand_in(redirect_uri: str) -> Iterator[GitHubStandIn]:
    server = GitHubStandIn("gh-client", secrets.token_urlsafe(16), redirect_uri)
    try:
        yield server
    finally:
        server.close()
