"""Provider webhook bodies in each provider's own event format, with their authentication
(basic auth, Mailgun's HMAC signature, an SNS signature from a test certificate)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from sitemail.deliverability.webhooks.sns import string_to_sign

SECRET = "webhook-secret-123"
MAILGUN_KEY = "mailgun-signing-key-456"
TS = 1764648900


def basic(secret: str = SECRET, user: str = "sitemail") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def bounce_body(provider: str, to: str, message_id: str, *, event: str = "bounce") -> Any:
    """One event of `event` (bounce | complaint | delivered) in `provider`'s format."""
    bare = message_id.strip("<>")
    n = sum(map(ord, to + event))  # distinct event ids per recipient and type
    if provider == "sendgrid":
        kind = {"bounce": "bounce", "complaint": "spamreport", "delivered": "delivered"}[event]
        return [
            {
                "email": to,
                "timestamp": TS,
                "smtp-id": message_id,
                "event": kind,
                "sg_event_id": f"sg-{n}",
                "sg_message_id": f"sgm-{n}.filter0001",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "status": "5.1.1",
                "type": "bounce",
            }
        ]
    if provider == "mailgun":
        kind = {"bounce": "failed", "complaint": "complained", "delivered": "delivered"}[event]
        token = f"tok{n}"
        return {
            "signature": {
                "timestamp": str(TS),
                "token": token,
                "signature": hmac.new(
                    MAILGUN_KEY.encode(), f"{TS}{token}".encode(), hashlib.sha256
                ).hexdigest(),
            },
            "event-data": {
                "event": kind,
                "severity": "permanent",
                "reason": "bounce",
                "recipient": to,
                "timestamp": TS + 0.5,
                "id": f"mg-{n}",
                "message": {"headers": {"message-id": bare}},
                "delivery-status": {
                    "code": 550,
                    "message": "5.1.1 The email account does not exist",
                    "description": "",
                },
            },
        }
    if provider == "postmark":
        if event == "complaint":
            return {
                "RecordType": "SpamComplaint",
                "Type": "SpamComplaint",
                "TypeCode": 512,
                "ID": n,
                "MessageID": f"pm-{n}",
                "Email": to,
                "BouncedAt": "2026-12-02T04:15:00Z",
                "Description": "The subscriber explicitly marked this message as spam.",
            }
        if event == "delivered":
            return {
                "RecordType": "Delivery",
                "MessageID": f"pm-{n}",
                "Recipient": to,
                "DeliveredAt": "2026-12-02T04:15:00Z",
                "Details": "Test delivery webhook details",
            }
        return {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "ID": n,
            "MessageID": f"pm-{n}",
            "Email": to,
            "BouncedAt": "2026-12-02T04:15:00Z",
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        }
    if provider == "sparkpost":
        kind = {"bounce": "bounce", "complaint": "spam_complaint", "delivered": "delivery"}[event]
        return [
            {
                "msys": {
                    "message_event": {
                        "type": kind,
                        "bounce_class": "10",
                        "rcpt_to": to,
                        "raw_rcpt_to": to,
                        "message_id": f"sp-{n}",
                        "event_id": f"sp-event-{n}",
                        "timestamp": str(TS),
                        "reason": "550 5.1.1 user unknown",
                        "raw_reason": "550 5.1.1 <" + to + ">: user unknown",
                    }
                }
            }
        ]
    if provider == "mailjet":
        kind = {"bounce": "bounce", "complaint": "spam", "delivered": "sent"}[event]
        return [
            {
                "event": kind,
                "time": TS,
                "MessageID": n,
                "Message_GUID": f"mj-{n}",
                "email": to,
                "blocked": False,
                "hard_bounce": True,
                "error_related_to": "recipient",
                "error": "user unknown",
            }
        ]
    if provider == "brevo":
        kind = {"bounce": "hard_bounce", "complaint": "spam", "delivered": "delivered"}[event]
        return {
            "event": kind,
            "email": to,
            "id": n,
            "date": "2026-12-02 05:15:00",
            "message-id": message_id,
            "reason": "550 5.1.1 user unknown",
            "ts_event": TS,
        }
    raise AssertionError(provider)


PROVIDERS = ("sendgrid", "mailgun", "postmark", "sparkpost", "mailjet", "brevo")
SLUGS = {p: p for p in PROVIDERS}


def webhooks_config() -> dict[str, Any]:
    doc: dict[str, Any] = {p: {"secret": SECRET} for p in PROVIDERS if p != "mailgun"}
    doc["mailgun"] = {"signingKey": MAILGUN_KEY}
    doc["amazonSES"] = {"secret": SECRET}
    return doc


# --- Amazon SNS --------------------------------------------------------------------------


@dataclass
class SNSServer:
    """A loopback HTTP server serving a test signing certificate and the SubscribeURL."""

    key: rsa.RSAPrivateKey
    cert_pem: bytes
    port: int = 0
    confirmed: list[str] = field(default_factory=list)
    cert_fetches: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sign(self, message: dict[str, Any], key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        message = {**message, "SignatureVersion": "2", "SigningCertURL": f"{self.base}/cert.pem"}
        signature = (key or self.key).sign(
            string_to_sign(message), padding.PKCS1v15(), hashes.SHA256()
        )
        message["Signature"] = base64.b64encode(signature).decode()
        return message


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test-region.amazonaws.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def sns_server() -> Iterator[SNSServer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state = SNSServer(key, _self_signed(key))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/cert.pem":
                state.cert_fetches += 1
                body = state.cert_pem
            elif self.path.startswith("/?Action=ConfirmSubscription"):
                state.confirmed.append(self.path)
                body = b"<ConfirmSubscriptionResponse/>"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def ses_bounce(to: str, message_id: str, *, permanent: bool = True) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent" if permanent else "Transient",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": to,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-12-02T04:15:00.000Z",
            "feedbackId": "0100-feedback",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": {
            "timestamp": "2026-12-02T04:14:59.000Z",
            "source": "noreply@example.com",
            "messageId": "0100018c-ses-id",
            "destination": [to],
            "commonHeaders": {"messageId": message_id, "to": [to]},
        },
    }


def sns_notification(event: dict[str, Any], message_id: str = "sns-1") -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": json.dumps(event),
        "Timestamp": "2026-12-02T04:15:01.000Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
