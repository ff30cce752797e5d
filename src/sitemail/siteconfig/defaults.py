"""The document a new site starts with, and the defaults of keys it leaves out."""

from __future__ import annotations

DEFAULT_EXTERNAL_URL = "http://127.0.0.1:3080"  # what `sitemail serve` binds by default

DEFAULT_DOCUMENT = """\
// sitemail site configuration. JSONC: comments and trailing commas are allowed and kept.
// Secrets (SMTP username and password, sensitive headers, signing keys, client secrets) are
// shown as "REDACTED"; leave "REDACTED" in place to keep the stored value.
{
  // The URL users open in their browser; every link in every email starts with it.
  "externalURL": "http://127.0.0.1:3080",

  // Sign-in methods. "builtin" is username and password sign-in.
  "auth.providers": [{ "type": "builtin", "allowSignup": false }],

  // Email is disabled until "email.smtp" is set. For example:
  //
  // "email.address": "sitemail@example.com",
  // "email.senderName": "Sourcegraph",
  // "email.smtp": {
  //   "host": "smtp.example.com",
  //   "port": 587,                 // 587: STARTTLS; 465: implicit TLS
  //   "authentication": "PLAIN",   // PLAIN, LOGIN, CRAM-MD5 or none
  //   "username": "alice",
  //   "password": "secret",
  //   "tls": "auto",               // auto, implicit, starttls or none
  //   "domain": "sitemail.example.com",
  //   "additionalHeaders": [{ "key": "X-Mailer", "value": "sitemail" }],
  // },
  // "email.templates": {
  //   "resetPassword": {
  //     "subject": "Reset your password on {{ Host }}",
  //     "html": "<p>Hi {{ Username }}, <a href=\\"{{ URL }}\\">reset your password</a>.</p>",
  //   },
  // },
}
"""
