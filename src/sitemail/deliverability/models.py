"""Events reported after a message left (bounces, complaints, deliveries), suppressed addresses
and one-click unsubscriptions."""

from __future__ import annotations

from django.db import models

from sitemail.outbox.models import OutboxMessage


class EventType(models.TextChoices):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Bounce(models.TextChoices):
    NONE = ""
    HARD = "hard"  # the address does not exist or is disabled (5.1.x, 5.2.1, ...)
    SOFT = "soft"  # mailbox full, policy, gave up after retries: scores with decay


class Event(models.Model):
    """One thing a receiving system reported about one recipient of one outbox row."""

    message = models.ForeignKey(
        OutboxMessage, null=True, on_delete=models.SET_NULL, related_name="events"
    )
    type = models.CharField(max_length=16, choices=EventType.choices)
    bounce = models.CharField(max_length=8, choices=Bounce.choices, default="", blank=True)
    recipient = models.CharField(max_length=320)
    status = models.CharField(max_length=16, default="", blank=True)  # RFC 3463 code, e.g. 5.1.1
    diagnostic = models.TextField(default="", blank=True)  # the remote MTA's reply text
    remote_mta = models.CharField(max_length=255, default="", blank=True)
    # Where it came from: smtp (our own send), dsn, arf, or a provider (amazon_ses, sendgrid ...).
    source = models.CharField(max_length=32)
    source_id = models.CharField(max_length=255, default="", blank=True)  # provider's event id
    at = models.DateTimeField()

    class Meta:
        db_table = "deliverability_event"
        indexes = [
            models.Index(fields=["at", "type"], name="event_at_type"),
            models.Index(fields=["recipient"], name="event_recipient"),
        ]
        constraints = [
            # A provider that re-sends a webhook (at least once) does not count twice.
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=~models.Q(source_id=""),
                name="event_source_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.recipient} ({self.source})"


class Reason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    SOFT_BOUNCES = "soft_bounces"


class Suppression(models.Model):
    """An address's bounce score; it is suppressed once `suppressed_at` is set."""

    address = models.CharField(max_length=320, unique=True)  # lower case
    score = models.FloatField(default=0.0)
    scored_at = models.DateTimeField()  # when `score` was last decayed and added to
    suppressed_at = models.DateTimeField(null=True)
    reason = models.CharField(max_length=16, choices=Reason.choices, default="", blank=True)
    reply = models.TextField(default="", blank=True)  # the remote reply that did it
    event = models.ForeignKey(Event, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "deliverability_suppression"
        indexes = [models.Index(fields=["suppressed_at"], name="suppression_at")]

    def __str__(self) -> str:
        return f"{self.address} ({self.reason or 'scoring'})"


class Unsubscription(models.Model):
    """A recipient turned one notification stream off with a one-click link (RFC 8058)."""

    address = models.CharField(max_length=320)  # lower case
    # What was turned off: "monitor_action:<id>" or "instance_invitation".
    scope = models.CharField(max_length=64)
    nonce = models.CharField(max_length=32, unique=True)  # the link's; a replay finds it used
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "deliverability_unsubscription"
        indexes = [models.Index(fields=["address", "scope"], name="unsubscription_scope")]

    def __str__(self) -> str:
        return f"{self.address} off {self.scope}"
