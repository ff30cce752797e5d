"""Amazon SES: the SMTP password derived from an IAM secret access key, checked against the
steps AWS publishes (SES developer guide, "Obtaining Amazon SES SMTP credentials"), and the
warning when the IAM secret itself is pasted as the password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from sitemail.siteconfig.validate import validate
from sitemail.smtp import ses

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example key


def aws_published_steps(secret: str, region: str) -> str:
    """AWS's algorithm, step by step as published: kSigning chain, version 0x04, base64."""
    date, service, terminal, message, version = (
        "11111111",
        "ses",
        "aws4_request",
        "SendRawEmail",
        0x04,
    )

    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    signature = sign(("AWS4" + secret).encode("utf-8"), date)
    signature = sign(signature, region)
    signature = sign(signature, service)
    signature = sign(signature, terminal)
    signature = sign(signature, message)
    return base64.b64encode(bytes([version]) + signature).decode("utf-8")


@pytest.mark.parametrize(
    ("region", "expected"),
    [  # computed with the published steps above (and pinned, so a change to either shows)
        ("us-east-1", "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"),
        ("eu-west-1", "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk"),
    ],
)
def test_smtp_password_matches_aws_published_derivation(region: str, expected: str) -> None:
    assert aws_published_steps(SECRET, region) == expected
    assert ses.smtp_password(SECRET, region) == expected
    raw = base64.b64decode(expected)
    assert raw[0] == 0x04 and len(raw) == 33 and len(expected) == 44
    assert ses.smtp_host(region) == f"email-smtp.{region}.amazonaws.com"


def test_region_and_key_checks() -> None:
    assert ses.check_region("ap-southeast-2") is None
    assert "not an AWS region" in (ses.check_region("virginia") or "")
    assert ses.check_access_key_id("AKIAIOSFODNN7EXAMPLE") is None
    assert ses.check_access_key_id("not-a-key") is not None


def test_iam_secret_as_ses_password_warns_with_the_fix() -> None:
    def warnings(password: str) -> list[str]:
        doc = {
            "externalURL": "https://sg.example.com",
            "email.address": "noreply@example.com",
            "email.smtp": {
                "host": "email-smtp.eu-west-1.amazonaws.com",
                "port": 587,
                "username": "AKIAIOSFODNN7EXAMPLE",
                "password": password,
            },
        }
        return [p.text for p in validate(json.dumps(doc)).warnings]

    [warning] = warnings(SECRET)
    assert warning.startswith(
        "email.smtp.password: looks like an IAM secret access key; Amazon SES refuses it with 535"
    )
    assert warnings(ses.smtp_password(SECRET, "eu-west-1")) == []
