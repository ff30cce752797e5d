"""SAML 2.0 sign-in (SP-initiated, HTTP-Redirect request, HTTP-POST response) with pysaml2.

pysaml2 checks the response: the assertion's XML signature against the IdP metadata's
certificate (xmlsec1), InResponseTo against the request we sent, audience, destination and
validity times. The request id travels in a signed, short-lived RelayState rather than the
session: the IdP's cross-site POST back carries no SameSite=Lax session cookie.
"""

from __future__ import annotations

import secrets
import shutil
from datetime import timedelta

import httpx
from django.core import signing
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT

from sitemail.accounts import ratelimit
from sitemail.accounts.external.providers import ExternalAuthError, Provider
from sitemail.accounts.external.service import Identity
from sitemail.siteconfig import service as siteconfig

TIMEOUT = 10.0
RELAY_SALT = "sitemail.external.saml.relay"
RELAY_MAX_AGE = 600  # seconds a user may spend at the IdP
EMAIL_ATTRIBUTES = ("email", "mail", "emailAddress", "emailaddress")


def _base() -> str:
    return siteconfig.get_settings().external_url.rstrip("/")


def sp_entity_id(provider: Provider) -> str:
    return provider.client_id or f"{_base()}/.auth/saml/metadata"


def _config(provider: Provider) -> SPConfig:
    xml = provider.options.get("identityProviderMetadata")
    if not isinstance(xml, str) or not xml.strip():
        url = str(provider.options.get("identityProviderMetadataURL") or "")
        try:
            xml = httpx.get(url, timeout=TIMEOUT).raise_for_status().text
        except (httpx.HTTPError, ValueError) as exc:
            raise ExternalAuthError(
                f"Could not fetch the SAML IdP metadata ({url}): {exc}"
            ) from exc
    config = SPConfig()
    try:
        config.load(
            {
                "entityid": sp_entity_id(provider),
                "service": {
                    "sp": {
                        "endpoints": {
                            "assertion_consumer_service": [
                                (f"{_base()}/.auth/saml/acs", BINDING_HTTP_POST)
                            ]
                        },
                        "allow_unsolicited": False,
                        "authn_requests_signed": False,
                        # SECURITY: every assertion must carry a valid IdP signature.
                        "want_assertions_signed": True,
                        "want_response_signed": False,
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_EMAILADDRESS],
                    }
                },
                "metadata": {"inline": [xml]},
                "xmlsec_binary": shutil.which("xmlsec1"),
                "allow_unknown_attributes": True,
            }
        )
    except Exception as exc:  # pysaml2 raises many types for bad metadata
        raise ExternalAuthError(f"The SAML IdP metadata is not usable: {exc}") from exc
    return config


def metadata(provider: Provider) -> str:
    """This service provider's metadata XML, for the IdP admin."""
    xml = create_metadata_string(None, config=_config(provider))
    return xml.decode() if isinstance(xml, bytes) else str(xml)


def start(provider: Provider, next_url: str) -> str:
    """The IdP URL (HTTP-Redirect binding) carrying a new AuthnRequest."""
    client = Saml2Client(config=_config(provider))
    idps = list(client.metadata.identity_providers())
    if len(idps) != 1:
        raise ExternalAuthError("The SAML IdP metadata must describe exactly one IdP.")
    request_id = "id-" + secrets.token_hex(16)
    relay = signing.dumps(
        {"id": request_id, "pc": provider.key, "next": next_url}, salt=RELAY_SALT, compress=True
    )
    _, info = client.prepare_for_authenticate(
        entityid=idps[0], relay_state=relay, binding=BINDING_HTTP_REDIRECT, message_id=request_id
    )
    return str(dict(info["headers"])["Location"])


def relay_state(value: str) -> dict[str, str]:
    """The request this response answers; refused when forged or expired."""
    try:
        data = signing.loads(value[:4096], salt=RELAY_SALT, max_age=RELAY_MAX_AGE)
    except signing.BadSignature as exc:
        raise ExternalAuthError(
            "This SAML sign-in was not started here or has expired; start again."
        ) from exc
    return {str(k): str(v) for k, v in data.items()}


def finish(provider: Provider, saml_response: str, request_id: str) -> Identity:
    # SECURITY: one response per request, across replicas (pysaml2 only remembers in-process).
    if not ratelimit.allow(f"saml-request:{request_id}", timedelta(seconds=RELAY_MAX_AGE * 2)):
        raise ExternalAuthError("This SAML response was already used; sign in again.")
    client = Saml2Client(config=_config(provider))
    try:
        response = client.parse_authn_request_response(
            saml_response[:1_000_000], BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
    except Exception as exc:  # signature, status, audience, time and replay errors alike
        raise ExternalAuthError(f"The SAML response was refused: {exc}") from exc
    if response is None or response.name_id is None:
        raise ExternalAuthError("The SAML response was refused: no subject")
    attributes = response.get_identity() or {}
    name_id = response.name_id
    email = next((str(attributes[a][0]) for a in EMAIL_ATTRIBUTES if attributes.get(a)), None)
    if email is None and name_id.format == NAMEID_FORMAT_EMAILADDRESS:
        email = str(name_id.text)
    first = {k: str(v[0]) for k, v in attributes.items() if isinstance(v, list) and v}
    return Identity(
        account_id=str(name_id.text),
        email=email,
        email_verified=email is not None,  # the IdP asserts it, in a signed assertion
        username=first.get("uid") or first.get("username") or "",
        display_name=first.get("displayName") or first.get("cn") or "",
        data={"nameID": str(name_id.text), "attributes": first},
    )
