"""Prometheus metrics: delivery totals, queue depth and age, read from the database per scrape.

Counts come from the database (outbox.counts), so every process (web replicas, workers)
reports the same numbers; the SMTP latency histogram is process-local (sitemail.outbox.metrics).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sitemail.accounts import mailbudget
from sitemail.deliverability.metrics import DeliverabilityCollector
from sitemail.outbox import counts
from sitemail.outbox.models import QUEUED_SQL, OutboxMessage, Status, matches

TOKEN_ENV = "SITEMAIL_METRICS_TOKEN"


class OutboxCollector(Collector):
    """Totals from outbox_count (kept on write, outbox.counts) and the oldest queued message
    from a partial index: a few rows read per scrape, whatever the size of the outbox."""

    def collect(self) -> Iterator[Metric]:
        counts.fold()
        outbox_totals = counts.totals()
        emails = CounterMetricFamily(
            "sitemail_emails", "Emails in the outbox by kind and status.", labels=["kind", "status"]
        )
        for c in outbox_totals:
            if c.messages:
                emails.add_metric([c.kind, c.status], c.messages)
        yield emails

        yield GaugeMetricFamily(
            "sitemail_outbox_queue_depth",
            "Messages queued for delivery.",
            value=sum(c.messages for c in outbox_totals if c.status == Status.QUEUED),
        )
        oldest = (
            OutboxMessage.objects.filter(matches(QUEUED_SQL))
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "sitemail_outbox_oldest_queued_age_seconds",
            "Age of the oldest queued message (0 when the queue is empty).",
            value=max(0.0, age),
        )
        yield CounterMetricFamily(
            "sitemail_email_retries",
            "Delivery attempts after the first, over all messages in the outbox.",
            value=sum(c.retries for c in outbox_totals),
        )
        refusals = CounterMetricFamily(
            "sitemail_email_user_limit_refusals",
            "Emails users tried to cause beyond email.userLimits (last 30 days), by limit.",
            labels=["limit"],
        )
        totals = mailbudget.refusal_totals()
        for limit in mailbudget.DEFAULTS:
            refusals.add_metric([limit], totals.get(limit, 0))
        yield refusals


_registry = CollectorRegistry(auto_describe=False)
_registry.register(OutboxCollector())
_registry.register(DeliverabilityCollector())


def exposition() -> bytes:
    """The text format: outbox metrics plus this process's (SMTP latency, admin retries)."""
    return generate_latest(_registry) + generate_latest(REGISTRY)


def token_allows(authorization: str) -> bool:
    """`Authorization: Bearer <SITEMAIL_METRICS_TOKEN>` (for Prometheus, which has no session)."""
    expected = os.environ.get(TOKEN_ENV, "")
    scheme, _, given = authorization.partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), expected.encode())
    )


def readable() -> list[dict[str, object]]:
    """The same metrics for the site-admin page: one row per family, its samples in words.

    Histogram buckets are left out (the raw /metrics has them); counts and sums stay.
    """
    from prometheus_client.parser import text_string_to_metric_families

    families: list[dict[str, object]] = []
    for family in text_string_to_metric_families(exposition().decode()):
        samples = [
            {
                "name": s.name,
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())),
                "value": f"{s.value:g}",
            }
            for s in family.samples
            if not s.name.endswith(("_bucket", "_created"))
        ]
        if samples:
            families.append({"name": family.name, "help": family.documentation, "samples": samples})
    return families
