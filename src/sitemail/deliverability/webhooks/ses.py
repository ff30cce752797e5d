"""Amazon SES event notifications (the SNS Message): Bounce, Complaint, Delivery, and
DeliveryDelay, in both the notification (`notificationType`) and event-publishing
(`eventType`) shapes. Our Message-ID is in mail.commonHeaders.messageId (or mail.headers)."""

from __future__ import annotations

from typing import Any

from sitemail.deliverability.events import Report
from sitemail.deliverability.models import Bounce, EventType


def _message_id(mail: dict[str, Any]) -> str:
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and isinstance(common.get("messageId"), str):
        return str(common["messageId"])
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value", ""))
    return ""


def reports(event: dict[str, Any], source_id: str) -> tuple[str, list[Report]]:
    """(our Message-ID, reports) of one SES event; unknown types give no reports."""
    kind = str(event.get("notificationType") or event.get("eventType") or "")
    mail = event.get("mail") if isinstance(event.get("mail"), dict) else {}
    assert isinstance(mail, dict)
    out: list[Report] = []
    if kind == "Bounce":
        bounce = event.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        for r in bounce.get("bouncedRecipients") or []:
            out.append(
                Report(
                    EventType.BOUNCED,
                    str(r.get("emailAddress", "")),
                    status=str(r.get("status", "") or ""),
                    diagnostic=str(r.get("diagnosticCode", "") or bounce.get("bounceSubType", "")),
                    remote_mta=str(bounce.get("remoteMtaIp", "") or bounce.get("reportingMTA", "")),
                    bounce=Bounce.HARD if hard else Bounce.SOFT,
                )
            )
    elif kind == "Complaint":
        complaint = event.get("complaint") or {}
        for r in complaint.get("complainedRecipients") or []:
            out.append(
                Report(
                    EventType.COMPLAINED,
                    str(r.get("emailAddress", "")),
                    diagnostic=str(complaint.get("complaintFeedbackType", "") or "complaint"),
                )
            )
    elif kind == "Delivery":
        delivery = event.get("delivery") or {}
        for address in delivery.get("recipients") or []:
            out.append(
                Report(
                    EventType.DELIVERED,
                    str(address),
                    diagnostic=str(delivery.get("smtpResponse", "")),
                    remote_mta=str(delivery.get("remoteMtaIp", "") or ""),
                )
            )
    elif kind == "DeliveryDelay":
        delay = event.get("deliveryDelay") or {}
        for r in delay.get("delayedRecipients") or []:
            out.append(
                Report(
                    EventType.DEFERRED,
                    str(r.get("emailAddress", "")),
                    status=str(r.get("status", "") or ""),
                    diagnostic=str(r.get("diagnosticCode", "") or delay.get("delayType", "")),
                )
            )
    for i, report in enumerate(out):
        report.source_id = f"{source_id}#{i}" if source_id else ""
    return _message_id(mail), out
