"""Secrets in the configuration: shown as "REDACTED" when it leaves the server, restored on save."""

from __future__ import annotations

from typing import Any

from sitemail.siteconfig import jsonc
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.jsonc import PathElem, format_path

REDACTED = "REDACTED"
_REDACTED_RAW = f'"{REDACTED}"'
# Keys of an `auth.providers` entry that hold secrets.
PROVIDER_SECRET_KEYS = ("clientSecret",)
# Keys of an `email.webhooks` entry that hold secrets.
WEBHOOK_SECRET_KEYS = ("secret", "signingKey")
# Keys of `email.smtp.oauth` that hold secrets (a service account key is a private key).
OAUTH_SECRET_KEYS = ("clientSecret", "certificate", "serviceAccountKey")

SecretPath = tuple[PathElem, ...]


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def _headers(doc: dict[str, Any]) -> list[Any]:
    smtp = doc.get("email.smtp")
    headers = smtp.get("additionalHeaders") if isinstance(smtp, dict) else None
    return headers if isinstance(headers, list) else []


def _providers(doc: dict[str, Any]) -> list[Any]:
    providers = doc.get("auth.providers")
    return providers if isinstance(providers, list) else []


def secret_paths(doc: dict[str, Any]) -> list[SecretPath]:
    """Paths of every secret that is set in a parsed document."""
    paths: list[SecretPath] = []
    smtp = doc.get("email.smtp")
    if isinstance(smtp, dict):
        paths += [("email.smtp", k) for k in ("username", "password") if _is_set(smtp.get(k))]
        oauth = smtp.get("oauth")
        if isinstance(oauth, dict):
            paths += [
                ("email.smtp", "oauth", k) for k in OAUTH_SECRET_KEYS if _is_set(oauth.get(k))
            ]
    for i, header in enumerate(_headers(doc)):
        if isinstance(header, dict) and header.get("sensitive") is True:
            if _is_set(header.get("value")):
                paths.append(("email.smtp", "additionalHeaders", i, "value"))
    webhooks = doc.get("email.webhooks")
    if isinstance(webhooks, dict):
        for provider, entry in webhooks.items():
            if isinstance(entry, dict):
                paths += [
                    ("email.webhooks", provider, k)
                    for k in WEBHOOK_SECRET_KEYS
                    if _is_set(entry.get(k))
                ]
    dkim = doc.get("email.dkim")
    if isinstance(dkim, dict) and _is_set(dkim.get("privateKey")):
        paths.append(("email.dkim", "privateKey"))
    invitations = doc.get("organizationInvitations")
    if isinstance(invitations, dict) and _is_set(invitations.get("signingKey")):
        paths.append(("organizationInvitations", "signingKey"))
    for i, provider in enumerate(_providers(doc)):
        if isinstance(provider, dict):
            paths += [
                ("auth.providers", i, k) for k in PROVIDER_SECRET_KEYS if _is_set(provider.get(k))
            ]
    return paths


def redact(text: str) -> str:
    """The JSONC text with every secret replaced by "REDACTED"; comments and layout kept."""
    try:
        doc = jsonc.Document(text)
    except jsonc.JSONCError as exc:
        return _hidden(str(exc))
    if not isinstance(doc.value, dict):
        return _hidden("it is not a JSON object")
    return jsonc.replace_raw_in(doc, {path: _REDACTED_RAW for path in secret_paths(doc.value)})


def _hidden(reason: str) -> str:
    # Secrets cannot be located in text that does not parse, so none of it is shown.
    return (
        f"// The stored site configuration is not valid ({reason}).\n"
        "// It is hidden here because it may contain secrets; fix the file SITE_CONFIG_FILE\n"
        "// points at, or replace this document.\n{}\n"
    )


def unredact(new_text: str, stored_text: str) -> str:
    """`new_text` with each "REDACTED" secret replaced by the stored value, byte for byte.

    Raises SiteConfigError naming each path where "REDACTED" has no stored secret to stand for.
    """
    text, problems = unredact_report(new_text, stored_text)
    if problems:
        raise SiteConfigError(problems)
    return text


def unredact_report(new_text: str, stored_text: str) -> tuple[str, list[str]]:
    """Like `unredact`, but returns the problems instead of raising (validation adds its own)."""
    try:
        new = jsonc.Document(new_text)
    except jsonc.JSONCError:
        return new_text, []  # validation reports the parse error
    if not isinstance(new.value, dict):
        return new_text, []
    stored: jsonc.Document | None
    try:
        stored = jsonc.Document(stored_text)
    except jsonc.JSONCError:
        stored = None
    stored_value = stored.value if stored is not None and isinstance(stored.value, dict) else {}

    raws: dict[SecretPath, str] = {}
    problems: list[str] = []
    for path in _redacted_paths(new.value, stored_value):
        if path not in secret_paths(new.value):
            # SECURITY: the secret would come back where it is no longer redacted (shown in
            # effectiveContents and the email log): restore only into a redacted place.
            problems.append(
                f'{format_path(path)}: "{REDACTED}" stands for a stored secret only where the '
                'value is still secret: keep "sensitive": true on this header, or enter the value'
            )
            continue
        source = _stored_path(path, new.value, stored_value)
        raw = stored.raw(source) if stored is not None and source is not None else None
        if raw is None:
            problems.append(
                f'{format_path(path)}: "{REDACTED}" stands for the stored secret, but none is '
                "stored for this setting; enter the actual value"
            )
        else:
            raws[path] = raw
    return jsonc.replace_raw_in(new, raws), problems


def _redacted_paths(new: dict[str, Any], stored: dict[str, Any]) -> list[SecretPath]:
    paths = [p for p in secret_paths(new) if jsonc.get(new, p) == REDACTED]
    # A header whose value is REDACTED whose stored counterpart was sensitive is still a secret,
    # even if the new text dropped `"sensitive": true`: never send the literal placeholder.
    sensitive_keys = {
        h["key"].lower()
        for h in _headers(stored)
        if isinstance(h, dict) and h.get("sensitive") is True and isinstance(h.get("key"), str)
    }
    for i, header in enumerate(_headers(new)):
        path: SecretPath = ("email.smtp", "additionalHeaders", i, "value")
        if (
            isinstance(header, dict)
            and header.get("value") == REDACTED
            and isinstance(header.get("key"), str)
            and header["key"].lower() in sensitive_keys
            and path not in paths
        ):
            paths.append(path)
    return paths


def _stored_path(
    path: SecretPath, new: dict[str, Any], stored: dict[str, Any]
) -> SecretPath | None:
    if path[:2] == ("email.smtp", "additionalHeaders"):
        key = jsonc.get(new, (*path[:3], "key"))
        if not isinstance(key, str):
            return None
        matches = [
            i
            for i, h in enumerate(_headers(stored))
            if isinstance(h, dict)
            and isinstance(h.get("key"), str)
            and h["key"].lower() == key.lower()
        ]
        # Only a value that was itself redacted (a sensitive header) may be restored.
        sensitive = [i for i in matches if _headers(stored)[i].get("sensitive") is True]
        if not sensitive:
            return None
        return ("email.smtp", "additionalHeaders", sensitive[0], "value")
    if path[0] == "auth.providers":
        index = path[1]
        assert isinstance(index, int)
        j = _matching_provider(new["auth.providers"][index], index, _providers(stored))
        return None if j is None else ("auth.providers", j, path[2])
    return path if _is_set(jsonc.get(stored, path)) else None


def _matching_provider(provider: dict[str, Any], index: int, stored: list[Any]) -> int | None:
    """The stored provider this one edits: same type and client ID, else same type and place."""
    same_type = [
        i
        for i, p in enumerate(stored)
        if isinstance(p, dict) and p.get("type") == provider.get("type")
    ]
    client_id = provider.get("clientID")
    if client_id is not None:
        by_id = [i for i in same_type if stored[i].get("clientID") == client_id]
        if by_id:
            return by_id[0]
    if index in same_type:
        return index
    return same_type[0] if len(same_type) == 1 else None
