"""A SAML 2.0 identity provider from pysaml2's server side, on an HTTP thread at 127.0.0.1:0.

It answers an AuthnRequest (HTTP-Redirect) for the user the test set in `.user` with a signed
assertion, returned as pysaml2's HTTP-POST auto-submit form, as a real IdP does after its own
login page. Keys are a fresh self-signed certificate per IdP.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD, NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from tests.external_auth.peers import Response, _Server


def _self_signed(directory: Path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test idp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "idp.key", directory / "idp.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class SAMLIdP:
    """See the module docstring. `trust_sp(xml)` loads the SP's metadata once it exists."""

    def __init__(self, directory: Path) -> None:
        self.user: dict[str, list[str]] = {}
        self.name_id = ""
        self.sign_assertion = True
        self._http = _Server(self._handle)
        self.url = self._http.url
        key_file, cert_file = _self_signed(directory)
        config = IdPConfig()
        config.load(
            {
                "entityid": self.url + "/metadata",
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.url + "/sso/redirect", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "policy": {"default": {"name_form": NAME_FORMAT_URI}},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    }
                },
                "key_file": key_file,
                "cert_file": cert_file,
                "xmlsec_binary": shutil.which("xmlsec1"),
                "metadata": {},
            }
        )
        self.server = Server(config=config)
        self.metadata = create_metadata_string(None, config=config).decode()

    def trust_sp(self, sp_metadata: str) -> None:
        self.server.metadata.imp({"inline": [sp_metadata]})

    def close(self) -> None:
        self._http.close()

    def site_config(self, **options: Any) -> dict[str, Any]:
        return {"type": "saml", "identityProviderMetadata": self.metadata, **options}

    def _handle(self, method: str, path: str, params: dict[str, str], headers: Any) -> Response:
        if path == "/metadata":
            return 200, {"Content-Type": "application/samlmetadata+xml"}, self.metadata.encode()
        if path != "/sso/redirect":
            return 404, {}, b"not found"
        request = self.server.parse_authn_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
        args = self.server.response_args(request.message, [BINDING_HTTP_POST])
        response = self.server.create_authn_response(
            dict(self.user),
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=self.name_id),
            authn={"class_ref": AUTHN_PASSWORD, "authn_auth": self.url},
            sign_assertion=self.sign_assertion,
            sign_response=False,
            **args,
        )
        http = self.server.apply_binding(
            BINDING_HTTP_POST,
            str(response),
            args["destination"],
            params.get("RelayState", ""),
            response=True,
        )
        return 200, {"Content-Type": "text/html"}, str(http["data"]).encode()


@contextmanager
def saml_idp(directory: Path) -> Iterator[SAMLIdP]:
    idp = SAMLIdP(directory)
    try:
        yield idp
    finally:
        idp.close()
