"""SendGrid, Mailgun, Postmark, SparkPost, Mailjet and Brevo through django-anymail's tracking
webhook views: anymail checks the authentication (basic auth, Mailgun's HMAC signature) and
normalises each provider's event format; this module maps its events to events.Report and
finds our Message-ID in the provider's raw event where the provider echoes it back."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anymail.exceptions import AnymailNotSupportedWarning
from anymail.signals import AnymailTrackingEvent
from anymail.webhooks.base import AnymailCoreWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from anymail.webhooks.sparkpost import SparkPostTrackingWebhookView
from django.http import HttpRequest

from sitemail.deliverability import suppression
from sitemail.deliverability.config import BASIC_AUTH_USER
from sitemail.deliverability.events import Report
from sitemail.deliverability.models import Bounce, EventType

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_MESSAGE_ID = re.compile(r"<?([^<>\s]+@[^<>\s]+)>?")


def _dig(event: Any, *path: str) -> str:
    for key in path:
        if not isinstance(event, dict):
            return ""
        event = event.get(key)
    return event if isinstance(event, str) else ""


def _sendgrid_id(e: Any) -> str:
    return _dig(e, "smtp-id")


def _mailgun_id(e: Any) -> str:
    return _dig(e, "event-data", "message", "headers", "message-id")


def _brevo_id(e: Any) -> str:
    return _dig(e, "message-id")


def _none(e: Any) -> str:
    return ""  # Postmark, SparkPost, Mailjet give their own ids: matched by recipient


def _soft(event: AnymailTrackingEvent) -> bool | None:
    """The provider's own word on hard or soft, where it gives one."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if raw.get("Type") in ("SoftBounce", "Transient", "DnsError"):  # Postmark
        return True
    if raw.get("Type") == "HardBounce" or raw.get("event") == "hard_bounce":
        return False
    if raw.get("event") == "soft_bounce":  # Brevo
        return True
    if raw.get("hard_bounce") is False or raw.get("hard_bounce") is True:  # Mailjet
        return not raw["hard_bounce"]
    bounce_class = _dig(raw, "msys", "message_event", "bounce_class")  # SparkPost
    if bounce_class:
        return bounce_class not in ("10", "25", "30", "90")
    return None


@dataclass(frozen=True)
class Provider:
    view: type[AnymailCoreWebhookView]
    message_id: Callable[[Any], str]
    signed: bool = False  # authenticated by a signature (signingKey) rather than basic auth


PROVIDERS: dict[str, Provider] = {
    "sendgrid": Provider(SendGridTrackingWebhookView, _sendgrid_id),
    "mailgun": Provider(MailgunTrackingWebhookView, _mailgun_id, signed=True),
    "postmark": Provider(PostmarkTrackingWebhookView, _none),
    "sparkpost": Provider(SparkPostTrackingWebhookView, _none),
    "mailjet": Provider(MailjetTrackingWebhookView, _none),
    "brevo": Provider(BrevoTrackingWebhookView, _brevo_id),
}


def parse(key: str, config: dict[str, str], request: HttpRequest) -> list[AnymailTrackingEvent]:
    """Authenticate and parse with anymail; raises (AnymailWebhookValidationFailure for bad
    authentication, anything else for a malformed body)."""
    provider = PROVIDERS[key]
    kwargs: dict[str, Any]
    if provider.signed:
        kwargs = {"webhook_signing_key": config["signingKey"]}
    else:
        kwargs = {"webhook_secret": [f"{BASIC_AUTH_USER}:{config['secret']}"]}
    with warnings.catch_warnings():
        # anymail warns on every SendGrid view that it no longer supports SendGrid officially
        # (anymail issue 432); the event format it parses is unchanged. Said once in README.
        warnings.simplefilter("ignore", AnymailNotSupportedWarning)
        view = provider.view(**kwargs)
    view.run_validators(request)
    return list(view.parse_events(request))


_TYPES = {
    "delivered": EventType.DELIVERED,
    "bounced": EventType.BOUNCED,
    "deferred": EventType.DEFERRED,
    "complained": EventType.COMPLAINED,
}


def report(key: str, event: AnymailTrackingEvent) -> tuple[str, Report] | None:
    """(our Message-ID or "", the report) for the events that matter here, else None."""
    kind = _TYPES.get(str(event.event_type))
    # A provider refusing to send to an address it knows bounces is a bounce too.
    if (
        kind is None
        and event.event_type == "rejected"
        and event.reject_reason
        in (
            "bounced",
            "invalid",
        )
    ):
        kind = EventType.BOUNCED
    if kind is None or not event.recipient:
        return None
    text = " ".join(str(x) for x in (event.mta_response, event.description) if x)
    status = _STATUS.search(text)
    bounce: Bounce | None = None
    if kind == EventType.BOUNCED:
        soft = _soft(event)
        if soft is None:
            soft = status is not None and suppression.classify(status.group(1)) == Bounce.SOFT
        bounce = Bounce.SOFT if soft else Bounce.HARD
    raw = json.dumps(event.esp_event, sort_keys=True, default=str)
    source_id = str(event.event_id or "") or hashlib.sha256(raw.encode()).hexdigest()
    found = _MESSAGE_ID.fullmatch(PROVIDERS[key].message_id(event.esp_event).strip())
    message_id = f"<{found.group(1)}>" if found else ""
    return message_id, Report(
        kind,
        str(event.recipient),
        status=status.group(1) if status else "",
        diagnostic=text,
        bounce=bounce,
        source_id=f"{source_id}:{event.recipient}"[:255],
        at=event.timestamp,
    )
