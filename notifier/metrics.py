"""The notifier's Prometheus metrics beside the consumers' shared ones: messages on each
channel, fallbacks between channels, and the ledger."""

import functools

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from notifier.channels import Channel
from shared.metrics import LATENCY_BUCKETS_S


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sms = Counter(
            "notifier_sms",
            "Messages on every channel (the name predates WhatsApp and email) by what became "
            "of them: sent, failed, held (quiet hours), skipped (opted out, no address), "
            "refused (a DLT variable or the text too long), duplicate_suppressed (sent or "
            "claimed before).",
            ["status"],
            registry=registry,
        )
        self.messages = Counter(
            "notifier_messages",
            "Messages by channel (whatsapp, sms, email) and status (as notifier_sms_total's); "
            "a message that fell back counts on the channel it ended on.",
            ["channel", "status"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "notifier_fallbacks",
            "Messages moved to their rule's next channel after theirs failed for good.",
            ["from_channel", "to_channel"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "notifier_provider_seconds",
            "Time of one call to a channel's provider, by result: ok, rejected, unavailable.",
            ["result"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.stuck = Gauge(
            "notifier_stuck_notifications",
            "Ledger rows left 'sending' by a process that died: resolve them by hand.",
            registry=registry,
        )

    def count(self, channel: Channel, status: str) -> None:
        """One message's outcome, in the total and on its channel."""
        self.sms.labels(status).inc()
        self.messages.labels(channel.value, status).inc()

    def fell_back(self, from_channel: Channel, to_channel: Channel) -> None:
        self.fallbacks.labels(from_channel.value, to_channel.value).inc()


@functools.cache
def default_notifier_metrics() -> NotifierMetrics:
    """The process's notifier metrics, on the registry ``/metrics`` serves."""
    return NotifierMetrics(REGISTRY)
