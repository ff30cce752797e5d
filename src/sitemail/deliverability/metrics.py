"""/metrics: bounced, complained and suppressed counts by email kind, read at scrape time from
the database (the same numbers from every process)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sitemail.deliverability.models import Event, Suppression


class DeliverabilityCollector(Collector):
    """Two aggregate queries per scrape (suppressed messages are in sitemail_emails)."""

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "sitemail_email_events",
            "Events reported after delivery (bounced, complained, deferred, delivered) by the "
            "kind of email, hard or soft for bounces, and where the report came from.",
            labels=["kind", "type", "bounce", "source"],
        )
        rows = Event.objects.values("message__kind", "type", "bounce", "source").annotate(
            n=Count("id")
        )
        for row in rows:
            events.add_metric(
                [row["message__kind"] or "", row["type"], row["bounce"], row["source"]], row["n"]
            )
        yield events
        addresses = GaugeMetricFamily(
            "sitemail_suppressed_addresses",
            "Addresses that get no notification mail, by reason.",
            labels=["reason"],
        )
        for row in (
            Suppression.objects.filter(suppressed_at__isnull=False)
            .values("reason")
            .annotate(n=Count("id"))
        ):
            addresses.add_metric([row["reason"]], row["n"])
        yield addresses
