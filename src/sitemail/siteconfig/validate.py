"""Validate a site configuration text: every problem, as data (siteconfig.problems.Problem)."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2
import jinja2.meta
import jinja2.sandbox

# No stubs ship with jsonschema (types-jsonschema is not a dependency).
from jsonschema import Draft202012Validator, FormatChecker, ValidationError  # type: ignore[import-untyped]

from sitemail.mail import address
from sitemail.siteconfig import jsonc
from sitemail.siteconfig.jsonc import PathElem, format_path
from sitemail.siteconfig.problems import Problem, warning
from sitemail.smtp import rules, ses
from sitemail.smtp.oauth import config as oauth_config

SCHEMA: dict[str, Any] = json.loads(
    resources.files("sitemail.siteconfig").joinpath("schema.json").read_text(encoding="utf-8")
)
KNOWN_KEYS: tuple[str, ...] = tuple(SCHEMA["properties"])
SMTP_KEYS: tuple[str, ...] = tuple(SCHEMA["$defs"]["smtp"]["properties"])

TEMPLATE_VARIABLES = ("Host", "Username", "URL")
_SECRET_KEYS = {
    "username",
    "password",
    "signingKey",
    "clientSecret",
    "privateKey",
    "certificate",
    "serviceAccountKey",
}

_formats = FormatChecker(formats=())


def _is_email(value: object) -> bool:
    if isinstance(value, str):
        address.parse(value)  # the one address rule; no DNS
    return True


def _is_http_url(value: object) -> bool:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("it needs http:// or https:// and a host name")
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    return True


_formats.checks("email", raises=address.AddressError)(_is_email)
_formats.checks("uri", raises=ValueError)(_is_http_url)
_validator = Draft202012Validator(SCHEMA, format_checker=_formats)
_jinja = jinja2.sandbox.SandboxedEnvironment(autoescape=False)

# Advice appended to a schema error, by path with array indices and template kinds as "*".
_HINTS = {
    "externalURL": 'set the URL users open in their browser, e.g. "https://sitemail.example.com"',
    "email.address": 'set the From address, e.g. "sitemail@example.com"',
    "email.senderName": 'set the From display name, e.g. "Sourcegraph"',
    "email.smtp": 'set an object such as {"host": "smtp.example.com", "port": 587}',
    "email.smtp.host": 'set the SMTP server host name or IP address, e.g. "smtp.example.com"',
    "email.smtp.port": (
        "use a port between 1 and 65535 (usually 587 for STARTTLS or 465 for implicit TLS)"
    ),
    "email.smtp.authentication": (
        "PLAIN (the default) and LOGIN send the username and password, CRAM-MD5 sends a "
        "challenge response, XOAUTH2 (Microsoft 365, Google) and OAUTHBEARER send an OAuth "
        "2.0 token from email.smtp.oauth, none sends no credentials"
    ),
    "email.smtp.tls": (
        "auto: implicit TLS on port 465, else STARTTLS when offered; implicit: TLS from the "
        "first byte; starttls: STARTTLS required; none: never TLS"
    ),
    "email.smtp.timeout": "set the seconds each network step may take, e.g. 30",
    "email.smtp.domain": 'set the name sent in HELO/EHLO, e.g. "sitemail.example.com"',
    "email.smtp.noVerifyTLS": "use true or false",
    "email.smtp.additionalHeaders": 'use a list such as [{"key": "X-Mailer", "value": "sitemail"}]',
    "email.smtp.additionalHeaders[*].key": 'set a header name such as "X-Mailer"',
    "email.smtp.additionalHeaders[*].value": "set the header's value (one line of text)",
    "email.smtp.additionalHeaders[*].sensitive": "use true to redact the value like a password",
    "email.templates": 'only "resetPassword" and "setPassword" can be overridden',
    "email.templates.*": 'set an object with "subject" and "html" (and optionally "text")',
    "email.templates.*.subject": (
        'set the subject template, e.g. "Reset your password on {{ Host }}"'
    ),
    "email.templates.*.html": "set the HTML body template (variables: Host, Username, URL)",
    "email.templates.*.text": "set the plain-text body template (variables: Host, Username, URL)",
    "email.dkim": (
        'set {"domain": "example.com", "selector": "sitemail", "privateKey": "..."}; '
        "`sitemail dkim keygen --selector S --domain D` writes it"
    ),
    "email.dkim.domain": 'set the signing domain, e.g. "example.com" (the From domain)',
    "email.dkim.selector": 'set the DNS label of the key, e.g. "sitemail2026"',
    "email.dkim.privateKey": "set a PEM private key; `sitemail dkim keygen` makes one",
    "email.dns.nameservers": 'use a list of resolver addresses, e.g. ["10.0.0.2", "10.0.0.3:5353"]',
    "email.dns.nameservers[*]": 'use an IP address with an optional port, e.g. "10.0.0.2:53"',
    "auth.providers": 'use a list such as [{"type": "builtin", "allowSignup": false}]',
    "auth.providers[*].type": 'e.g. "builtin", "github", "openidconnect" or "saml"',
    "auth.providers[*].allowSignup": "use true or false",
    "auth.passwordResetLinkExpiry": "set the link lifetime in seconds, e.g. 14400 (4 hours)",
    "auth.minPasswordLength": "set the minimum number of characters, e.g. 12",
    "organizationInvitations": 'set an object such as {"signingKey": "...", "expiryTime": 48}',
    "organizationInvitations.signingKey": (
        "set a random secret, e.g. the output of `openssl rand -base64 32`"
    ),
    "organizationInvitations.expiryTime": "set the hours an invitation stays valid, e.g. 48",
}

# What a failed `not` (a forbidden character) means, by the same path keys.
_FORBIDDEN = {
    "email.senderName": "contains a line break; the sender name must be one line",
    "email.smtp.host": (
        'must be only a host name or IP address (no spaces, "/" or "smtp://"), '
        'e.g. "smtp.example.com"'
    ),
    "email.smtp.domain": 'must be one name without spaces, e.g. "sitemail.example.com"',
    "email.smtp.additionalHeaders[*].key": (
        "is not a valid header name: header names are printable ASCII without spaces or "
        'colons (RFC 5322), e.g. "X-Mailer"'
    ),
    "email.smtp.additionalHeaders[*].value": (
        "contains a line break or control character; a header value must be one line of text "
        "(CR/LF would start another header)"
    ),
    "email.templates.*.subject": "contains a line break; a subject must be one line",
}

_TYPE_NAMES = {
    "object": "an object {...}",
    "array": "a list [...]",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one text: errors block a save, warnings do not."""

    errors: list[Problem]
    warnings: list[Problem]
    # The parsed document when the text is a JSON object (even with errors), else None.
    document: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def problems(self) -> list[Problem]:
        return [*self.errors, *self.warnings]

    @property
    def messages(self) -> list[str]:
        """Errors then warnings as the lines shown to admins."""
        return [p.text for p in self.problems]


def validate(text: str) -> Validation:
    """Parse and check `text`; reports every problem found, not only the first."""
    if not _is_unicode(text):  # e.g. a lone surrogate from a JSON request body
        pos = next(i for i, c in enumerate(text) if not _is_unicode(c))
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        return Validation(
            [Problem(None, f"line {line}, column {column}: not valid Unicode text")], []
        )
    try:
        doc = jsonc.Document(text)
    except jsonc.JSONCError as exc:
        return Validation([Problem(None, str(exc))], [])
    value = doc.value
    if not isinstance(value, dict):
        return Validation(
            [Problem("", 'the site configuration must be a JSON object: {"externalURL": ...}')],
            [],
        )
    errors = _schema_errors(value)
    warnings = [
        warning(
            format_path(path),
            "written more than once; only the last one is used, remove the others",
        )
        for path in doc.duplicate_keys()
    ]
    with_errors = {p.path for p in errors}
    errors += [p for p in _bad_values(value) if p.path not in with_errors]
    _check_keys(value, errors, warnings)
    smtp = value.get("email.smtp")
    if isinstance(smtp, dict):
        _check_smtp(value, smtp, errors, warnings)
    templates = value.get("email.templates")
    if isinstance(templates, dict):
        _check_templates(templates, errors, warnings)
    _check_dkim(value, errors, warnings)
    return Validation(_ordered(errors), _ordered(warnings), value)


def _check_dkim(doc: dict[str, Any], errors: list[Problem], warnings: list[Problem]) -> None:
    """The key must sign; the domain should align with email.address (deliverability's rules)."""
    from sitemail.deliverability import rules

    errors += rules.dkim_key_problems(doc)
    warnings += rules.dkim_alignment_warnings(doc)


def validate_value(key: str, value: Any) -> list[Problem]:
    """Schema errors for one top-level key's value (used to keep only valid parts of a document)."""
    return _schema_errors({key: value})


def check_templates(
    templates: dict[str, Any], errors: list[Problem], warnings: list[Problem]
) -> None:
    """Append jinja2 syntax errors and unknown-variable warnings for `email.templates`."""
    _check_templates(templates, errors, warnings)


# --- schema --------------------------------------------------------------------------------


def _schema_errors(value: dict[str, Any]) -> list[Problem]:
    found = sorted(_validator.iter_errors(value), key=lambda e: format_path(e.absolute_path))
    return list(dict.fromkeys(p for error in found for p in _describe(error)))


def _hint_key(path: tuple[PathElem, ...]) -> str:
    """`email.smtp.additionalHeaders[*].key`, `email.templates.*.html`: the keys of _HINTS."""
    out = ""
    for i, elem in enumerate(path):
        if isinstance(elem, int):
            out += "[*]"
        elif i == 1 and path[0] == "email.templates":
            out += ".*"
        else:
            out += f".{elem}" if out else elem
    return out


def _with_hint(message: str, path: tuple[PathElem, ...]) -> Problem:
    """An error at `path` with the advice _HINTS has for it."""
    return Problem(format_path(path), message, _HINTS.get(_hint_key(path), ""))


def _show(path: tuple[PathElem, ...], value: Any) -> str:
    """The value for a message, unless it is a secret (messages end up in logs and the UI)."""
    last = path[-1] if path else ""
    if last in _SECRET_KEYS or (
        last == "value" and len(path) > 2 and path[-3] == "additionalHeaders"
    ):
        return "the value"
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f' (did you mean "{lowered[match[0]]}"?)' if match else ""


def _describe(error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    where = format_path(path) or "(top level)"
    instance = error.instance
    kind = error.validator
    if kind == "required":
        for key in error.validator_value:
            if isinstance(instance, dict) and key not in instance:
                yield _with_hint("required but missing", (*path, key))
    elif kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield Problem(
                    format_path((*path, key)),
                    f"unknown key{_did_you_mean(key, allowed)}",
                    f"the keys allowed in {where} are {', '.join(allowed)}",
                )
    elif kind == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else wanted
        expected = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        yield _with_hint(f"expected {expected}, got {_show(path, instance)}", path)
    elif kind == "enum":
        allowed_values = [str(v) for v in error.validator_value]
        listed = ", ".join(f'"{v}"' for v in allowed_values)
        message = f"{_show(path, instance)} is not one of {listed}"
        if isinstance(instance, str):
            same = [v for v in allowed_values if v.lower() == instance.lower()]
            message += f' (did you mean "{same[0]}"? case matters)' if same else ""
        yield _with_hint(message, path)
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        yield _with_hint(error.message, path)
    elif kind == "minLength":
        yield _with_hint("must not be empty", path)
    elif kind == "format":
        reason = f" ({error.cause})" if error.cause else ""
        noun = "email address" if error.validator_value == "email" else "http(s) URL"
        yield _with_hint(f"{_show(path, instance)} is not a valid {noun}{reason}", path)
    elif kind == "pattern" and path == ("externalURL",):
        yield _with_hint(f"{_show(path, instance)} must start with http:// or https://", path)
    elif kind == "not":
        problem = _FORBIDDEN.get(_hint_key(path), "has a value that is not allowed here")
        yield Problem(format_path(path), f"{_show(path, instance)} {problem}")
    else:
        yield _with_hint(error.message, path)


# --- checks a schema cannot express --------------------------------------------------------


def _bad_values(value: Any, path: tuple[PathElem, ...] = ()) -> list[Problem]:
    """Values JSON cannot carry: NaN and infinities, and strings with unpaired surrogates."""
    where = format_path(path)
    if isinstance(value, float) and not math.isfinite(value):
        return [Problem(where, f"{value} is not a number JSON allows", "use a finite number")]
    if isinstance(value, str) and not _is_unicode(value):
        return [
            Problem(where, "contains an unpaired surrogate escape (\\ud800-\\udfff)", "remove it")
        ]
    if isinstance(value, dict):
        found = [
            Problem(where, f"the key {k!r} is not valid Unicode")
            for k in value
            if not _is_unicode(k)
        ]
        return found + [p for k, v in value.items() for p in _bad_values(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _bad_values(v, (*path, i))]
    return []


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_keys(doc: dict[str, Any], errors: list[Problem], warnings: list[Problem]) -> None:
    for nested in ("email", "auth"):
        if nested not in doc:
            continue
        flat = [k for k in KNOWN_KEYS if k.startswith(f"{nested}.")]
        inner = doc[nested]
        moves = ""
        if isinstance(inner, dict) and inner:
            moves = (
                " move "
                + ", ".join(f'"{k}" to the top-level key "{nested}.{k}"' for k in inner)
                + ";"
            )
        errors.append(
            Problem(
                nested,
                f"keys are flat, not nested objects;{moves} "
                f"the {nested} keys are {', '.join(flat)}",
            )
        )
    email_keys = [k for k in KNOWN_KEYS if k.startswith("email.")]
    for key in doc:
        if key in KNOWN_KEYS or key in ("email", "auth"):
            continue
        if key.startswith("email."):
            errors.append(
                Problem(
                    key,
                    f"unknown key{_did_you_mean(key, email_keys)}",
                    f"the email keys are {', '.join(email_keys)}",
                )
            )
        elif hint := _did_you_mean(key, KNOWN_KEYS):
            warnings.append(warning(key, f"unknown key, not read by sitemail{hint}"))


def _check_smtp(
    doc: dict[str, Any], smtp: dict[str, Any], errors: list[Problem], warnings: list[Problem]
) -> None:
    host = smtp.get("host")
    port = smtp.get("port")
    auth = smtp.get("authentication", "PLAIN")
    tls = smtp.get("tls", "auto")
    domain = smtp.get("domain")
    if isinstance(host, str) and (split := rules.host_port_split(host)):
        errors.append(
            Problem(
                "email.smtp.host",
                f'"{host}" includes a port',
                f'set "host": "{split[0]}" and "port": {split[1]}',
            )
        )
    if isinstance(domain, str) and domain.strip() and not rules.is_ehlo_name(domain):
        errors.append(
            Problem(
                "email.smtp.domain",
                f"{_show(('email.smtp', 'domain'), domain)} is not a name an SMTP server accepts "
                "in HELO/EHLO",
                'use an ASCII host name, e.g. "sitemail.example.com"',
            )
        )
    if smtp.get("noVerifyTLS") is True:
        warnings.append(
            warning(
                "email.smtp.noVerifyTLS",
                "true turns off TLS certificate verification, so anyone on the network path can "
                "impersonate the SMTP server and read the credentials and mail",
                "trust the server's CA instead and set it to false",
            )
        )
    if not doc.get("email.address"):
        warnings.append(
            warning(
                "email.address",
                "not set, so nothing can be sent (every message needs a From address)",
                'set "email.address", e.g. "sitemail@example.com"',
            )
        )
    _check_auth(auth, tls, host, port, smtp, warnings)
    headers = smtp.get("additionalHeaders")
    if isinstance(headers, list):
        _check_headers(headers, errors, warnings)
    oauth_config.check(smtp, errors, warnings)
    password = smtp.get("password")
    if isinstance(host, str) and isinstance(password, str) and ses.is_ses_host(host):
        if ses.looks_like_iam_secret(password):
            warnings.append(
                warning(
                    "email.smtp.password",
                    "looks like an IAM secret access key; Amazon SES refuses it with 535",
                    "SES needs the SMTP password derived from it: enter the access key under "
                    '"Amazon SES with an IAM access key" on the configuration page, or create '
                    "SMTP credentials in the SES console",
                )
            )


def _check_auth(
    auth: Any, tls: Any, host: Any, port: Any, smtp: dict[str, Any], warnings: list[Problem]
) -> None:
    """The credentials the mechanism needs, TLS for a password, and the port's TLS mode."""
    if not isinstance(auth, str) or not isinstance(tls, str):
        return  # the schema reports them
    if rules.needs_credentials(auth) and (not smtp.get("username") or not smtp.get("password")):
        warnings.append(
            warning(
                "email.smtp.username",
                f'authentication "{auth}" needs a username and password',
                'set both, or set "authentication": "none" if the server needs no login',
            )
        )
    port = port if isinstance(port, int) and not isinstance(port, bool) else 0
    if isinstance(host, str):
        if rules.sends_password_in_clear(auth, tls, port, host):
            warnings.append(
                warning(
                    "email.smtp.tls",
                    f'"{tls}" with authentication "{auth}" would send the '
                    f"{'token' if rules.uses_oauth(auth) else 'password'} unencrypted "
                    f"to {host}, so sitemail refuses to log in and nothing is sent",
                    'use port 587 with "tls": "starttls" (or "auto"), or port 465 with "tls": '
                    '"implicit"',
                )
            )
        if rules.port_tls_mismatch(port, tls):
            warnings.append(
                warning(
                    "email.smtp.tls",
                    f'port 465 expects implicit TLS, but "tls" is "{tls}"',
                    'use "tls": "auto" or "implicit" with port 465, or port 587 for STARTTLS',
                )
            )


def _check_headers(headers: list[Any], errors: list[Problem], warnings: list[Problem]) -> None:
    first_seen: dict[str, int] = {}
    for i, header in enumerate(headers):
        key = header.get("key") if isinstance(header, dict) else None
        if not isinstance(key, str):
            continue
        where = f"email.smtp.additionalHeaders[{i}].key"
        if rules.is_reserved_header(key):
            errors.append(
                Problem(
                    where,
                    f'"{key}" is set by sitemail on every message and cannot be overridden',
                    "remove this header",
                )
            )
        elif key.lower() in first_seen:
            warnings.append(
                warning(
                    where,
                    f'"{key}" is also set by additionalHeaders[{first_seen[key.lower()]}]',
                    "the message would carry the header twice, remove one",
                )
            )
        first_seen.setdefault(key.lower(), i)


def _check_templates(
    templates: dict[str, Any], errors: list[Problem], warnings: list[Problem]
) -> None:
    for kind, template in templates.items():
        if not isinstance(template, dict):
            continue
        for part in ("subject", "html", "text"):
            source = template.get(part)
            if isinstance(source, str):
                _check_template(f"email.templates.{kind}.{part}", source, errors, warnings)


def _check_template(
    where: str, source: str, errors: list[Problem], warnings: list[Problem]
) -> None:
    variables = ", ".join(TEMPLATE_VARIABLES)
    try:
        ast = _jinja.parse(source)
        _jinja.compile(ast)  # unknown filters and tests fail here, not in parse()
    except jinja2.TemplateSyntaxError as exc:
        errors.append(
            Problem(
                where,
                f"template syntax error on line {exc.lineno}: "
                f"{(exc.message or 'invalid syntax').rstrip('.')}",
                f"fix the {{{{ ... }}}} and {{% ... %}} tags (variables: {variables})",
            )
        )
        return
    for name in sorted(jinja2.meta.find_undeclared_variables(ast)):
        if name not in TEMPLATE_VARIABLES:
            warnings.append(
                warning(
                    where,
                    f'unknown variable "{name}" renders as an empty string'
                    f"{_did_you_mean(name, TEMPLATE_VARIABLES)}",
                    f"the variables are {variables}",
                )
            )


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Without repeats, grouped by path (stable, so related problems keep their order)."""
    return sorted(dict.fromkeys(problems), key=lambda p: p.where if p.path is not None else "")
