"""Provider webhooks: each provider's event format and authentication; a forged request or a
bad signature changes nothing; SES through SNS with the signature checked and the
subscription confirmed against a test certificate served on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from sitemail.deliverability.models import Bounce, Event, EventType, Reason, Suppression
from sitemail.deliverability.webhooks import sns
from sitemail.outbox import enqueue
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig.typed import SiteSettings
from tests.deliverability import providers as p
from tests.outbox.conftest import configure_site  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)
Configure = Callable[..., SiteSettings]


@pytest.fixture
def site(configure_site: Configure) -> SiteSettings:  # noqa: F811
    smtp = {"host": "127.0.0.1", "port": 2525, "authentication": "none", "tls": "none"}
    return configure_site(smtp, **{"email.webhooks": p.webhooks_config()})


@pytest.fixture
def sns_server(settings: SettingsWrapper) -> Iterator[p.SNSServer]:
    for server in p.sns_server():
        settings.SITEMAIL_SNS_CERT_URL_PATTERN = rf"^http://127\.0\.0\.1:{server.port}/"
        settings.SITEMAIL_SNS_SUBSCRIBE_URL_PATTERN = rf"^http://127\.0\.0\.1:{server.port}/\?"
        sns.clear_cache()
        yield server
        sns.clear_cache()


def sent(to: str) -> OutboxMessage:
    row = enqueue("account_update", to, {"username": "u", "message": "m"})
    OutboxMessage.objects.filter(pk=row.pk).update(status=Status.SENT, sent_at=timezone.now())
    return OutboxMessage.objects.get(pk=row.pk)


def post(client: Client, provider: str, body: Any, **headers: str) -> Any:
    auth = {} if provider == "mailgun" else p.basic()
    auth.update(headers)
    return client.post(
        f"/.webhooks/email/{provider}",
        data=json.dumps(body),
        content_type="application/json",
        **auth,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("provider", p.PROVIDERS)
def test_bounce_event_suppresses_the_recipient(
    site: SiteSettings, client: Client, provider: str
) -> None:
    row = sent(f"gone-{provider}@example.org")
    response = post(client, provider, p.bounce_body(provider, row.recipient, row.message_id))
    assert response.status_code == 200, response.content
    [event] = Event.objects.filter(message=row)
    assert (event.type, event.bounce, event.source) == (EventType.BOUNCED, Bounce.HARD, provider)
    entry = Suppression.objects.get(address=row.recipient)
    assert entry.suppressed_at is not None and entry.reason == Reason.HARD_BOUNCE
    # The provider re-sends the same webhook (at least once delivery): counted once.
    post(client, provider, p.bounce_body(provider, row.recipient, row.message_id))
    assert Event.objects.filter(message=row).count() == 1


@pytest.mark.parametrize("provider", p.PROVIDERS)
def test_complaint_event_suppresses(site: SiteSettings, client: Client, provider: str) -> None:
    row = sent(f"angry-{provider}@example.org")
    body = p.bounce_body(provider, row.recipient, row.message_id, event="complaint")
    assert post(client, provider, body).status_code == 200
    assert Event.objects.get(message=row).type == EventType.COMPLAINED
    assert Suppression.objects.get(address=row.recipient).reason == Reason.COMPLAINT


@pytest.mark.parametrize("provider", p.PROVIDERS)
def test_forged_or_badly_signed_webhook_changes_nothing(
    site: SiteSettings, client: Client, provider: str
) -> None:
    row = sent(f"real-{provider}@example.org")
    body = p.bounce_body(provider, row.recipient, row.message_id)
    if provider == "mailgun":
        body["signature"]["signature"] = "0" * 64  # bad signature
        forged = client.post(
            "/.webhooks/email/mailgun", data=json.dumps(body), content_type="application/json"
        )
    else:
        no_auth = client.post(
            f"/.webhooks/email/{provider}", data=json.dumps(body), content_type="application/json"
        )
        assert no_auth.status_code == 401
        forged = post(client, provider, body, **p.basic("wrong-secret"))
    assert forged.status_code in (400, 401)
    # A correctly authenticated event about an address we never sent to.
    stranger = p.bounce_body(provider, "stranger@example.net", "<nope@example.com>")
    assert post(client, provider, stranger).status_code == 200
    assert Event.objects.count() == 0 and Suppression.objects.count() == 0


def test_unconfigured_provider_is_404(configure_site: Configure, client: Client) -> None:  # noqa: F811
    configure_site({"host": "127.0.0.1", "port": 2525, "authentication": "none", "tls": "none"})
    response = post(client, "sendgrid", [])
    assert response.status_code == 404


def _sns_post(client: Client, message: dict[str, Any], **auth: str) -> Any:
    return client.post(
        "/.webhooks/email/amazon-ses",
        data=json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message["Type"],
        **(auth or p.basic()),  # type: ignore[arg-type]
    )


def test_ses_subscription_is_confirmed_after_its_signature_checks(
    site: SiteSettings, client: Client, sns_server: p.SNSServer
) -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "sub-1",
        "Token": "tok",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": "You have chosen to subscribe to the topic ...",
        "SubscribeURL": f"{sns_server.base}/?Action=ConfirmSubscription&Token=tok",
        "Timestamp": "2026-12-02T04:15:01.000Z",
    }
    # Signed by someone else's key: refused, and the URL is never loaded.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _sns_post(client, sns_server.sign(confirmation, other)).status_code == 400
    assert sns_server.confirmed == []
    response = _sns_post(client, sns_server.sign(confirmation))
    assert response.status_code == 200
    assert sns_server.confirmed == ["/?Action=ConfirmSubscription&Token=tok"]


def test_ses_bounce_through_sns(
    site: SiteSettings, client: Client, sns_server: p.SNSServer
) -> None:
    row = sent("gone-ses@example.org")
    message = sns_server.sign(p.sns_notification(p.ses_bounce(row.recipient, row.message_id)))
    # No basic auth: SNS is challenged first (401 with WWW-Authenticate).
    challenged = client.post(
        "/.webhooks/email/amazon-ses",
        data=json.dumps(message),
        content_type="text/plain",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
    )
    assert challenged.status_code == 401 and "Basic" in challenged["WWW-Authenticate"]
    assert _sns_post(client, message).status_code == 200
    [event] = Event.objects.filter(message=row)
    assert (event.type, event.bounce, event.status) == (EventType.BOUNCED, Bounce.HARD, "5.1.1")
    assert event.source == "amazon_ses"
    assert Suppression.objects.get(address=row.recipient).suppressed_at is not None


def test_ses_tampered_or_off_allowlist_changes_nothing(
    site: SiteSettings, client: Client, sns_server: p.SNSServer, settings: SettingsWrapper
) -> None:
    row = sent("real-ses@example.org")
    message = sns_server.sign(p.sns_notification(p.ses_bounce(row.recipient, row.message_id)))
    tampered = {**message, "Message": message["Message"].replace("real-ses", "other-ses")}
    assert _sns_post(client, tampered).status_code == 400
    # A certificate URL outside the allowlist is never fetched.
    settings.SITEMAIL_SNS_CERT_URL_PATTERN = sns.DEFAULT_CERT_URL_PATTERN
    sns.clear_cache()
    fetches = sns_server.cert_fetches
    assert _sns_post(client, message).status_code == 400
    assert sns_server.cert_fetches == fetches
    assert Event.objects.count() == 0 and Suppression.objects.count() == 0
