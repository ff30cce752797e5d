"""POST /.webhooks/email/<provider>: authenticate, parse, record. 404 for a provider that is
not configured, 401/400 for failed authentication or a malformed body (nothing recorded)."""

from __future__ import annotations

import json
import logging
from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sitemail.deliverability import events
from sitemail.deliverability.config import BASIC_AUTH_USER, PROVIDERS, bounce_settings
from sitemail.deliverability.webhooks import providers, ses, sns
from sitemail.siteconfig import service as siteconfig

log = logging.getLogger(__name__)
_BY_SLUG = {slug: key for key, (slug, _) in PROVIDERS.items()}


def _unauthorized() -> HttpResponse:
    response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    # SNS sends basic auth only after a 401 with a challenge.
    response["WWW-Authenticate"] = 'Basic realm="sitemail"'
    return response


def _record(message_id: str, report: events.Report, source: str) -> bool:
    message = events.message_by_id(message_id) if message_id else None
    if message is None:
        message = events.message_to(report.recipient)
    return events.record(message, report, source) is not None


# SECURITY: no CSRF (providers post without a session); each provider's secret or signature
# is checked before anything is parsed or recorded.
@csrf_exempt
@require_POST
def receive(request: HttpRequest, provider: str) -> HttpResponse:
    key = _BY_SLUG.get(provider)
    config = bounce_settings(siteconfig.get_settings()).webhooks.get(key or "")
    if key is None or not config:
        return HttpResponse("no such webhook\n", status=404, content_type="text/plain")
    if key == "amazonSES":
        return _amazon_ses(request, config)
    try:
        parsed = providers.parse(key, config, request)
    except AnymailWebhookValidationFailure as exc:
        log.warning("webhook %s: refused: %s", key, exc)
        return _unauthorized()
    except Exception as exc:  # a malformed body: the provider's format, not our bug
        log.warning("webhook %s: unreadable body: %r", key, exc)
        return HttpResponse("unreadable event body\n", status=400, content_type="text/plain")
    recorded = 0
    for event in parsed:
        found = providers.report(key, event)
        if found is not None and _record(*found, key):
            recorded += 1
    return HttpResponse(f"recorded {recorded}\n", content_type="text/plain")


def _basic_auth_ok(request: HttpRequest, secret: str) -> bool:
    from anymail.utils import get_request_basic_auth

    given = get_request_basic_auth(request) or ""
    return constant_time_compare(given, f"{BASIC_AUTH_USER}:{secret}")


def _amazon_ses(request: HttpRequest, config: dict[str, str]) -> HttpResponse:
    if not _basic_auth_ok(request, config["secret"]):
        return _unauthorized()
    try:
        message: Any = json.loads(request.body)
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
        if request.headers.get("x-amz-sns-message-type") != message.get("Type"):
            raise sns.SNSError("x-amz-sns-message-type does not match the body's Type")
        sns.verify(message)
    except (ValueError, sns.SNSError) as exc:
        log.warning("webhook amazonSES: refused: %s", exc)
        return HttpResponse("not a valid SNS message\n", status=400, content_type="text/plain")
    if message["Type"] == "SubscriptionConfirmation":
        try:
            sns.confirm(message)
        except sns.SNSError as exc:
            log.warning("webhook amazonSES: %s", exc)
            return HttpResponse("confirmation failed\n", status=502, content_type="text/plain")
        log.info("webhook amazonSES: confirmed the subscription to %s", message.get("TopicArn"))
        return HttpResponse("subscription confirmed\n", content_type="text/plain")
    if message["Type"] != "Notification":
        return HttpResponse("ignored\n", content_type="text/plain")
    try:
        event = json.loads(str(message.get("Message", "")))
    except ValueError:
        return HttpResponse("ignored\n", content_type="text/plain")  # SES's test notice
    if not isinstance(event, dict):
        return HttpResponse("ignored\n", content_type="text/plain")
    message_id, reports = ses.reports(event, str(message.get("MessageId", "")))
    recorded = sum(_record(message_id, r, "amazon_ses") for r in reports)
    return HttpResponse(f"recorded {recorded}\n", content_type="text/plain")
