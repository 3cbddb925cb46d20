"""Everything the API process needs for alert delivery, built from settings in one call."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from alerts.dispatcher import AlertDispatcher
from alerts.metrics import AlertMetrics
from alerts.sse import AlertHub
from alerts.ssrf import AddressPolicy
from alerts.subscriptions import SubscriptionStore
from alerts.webhooks import RetryPolicy, WebhookSender
from groundswell.settings import Settings


@dataclass
class AlertServices:
    """Built when the app is created (the router needs the hub and the store); the dispatcher is
    made in :meth:`start`, in the lifespan, once the broker's address is known."""

    settings: Settings
    metrics: AlertMetrics
    policy: AddressPolicy
    hub: AlertHub
    store: SubscriptionStore
    sender: WebhookSender
    dispatcher: AlertDispatcher | None = None  # after start(), unless settings.alerts_dispatcher is off

    @classmethod
    def build(cls, settings: Settings, registry: CollectorRegistry) -> AlertServices:
        metrics = AlertMetrics.for_registry(registry)
        policy = AddressPolicy.from_settings(settings)
        hub = AlertHub(metrics, settings.sse_queue_size, settings.sse_buffer_size)
        store = SubscriptionStore.in_data_dir(settings.data_dir)
        sender = WebhookSender(
            policy,
            RetryPolicy(
                settings.webhook_max_attempts, settings.webhook_backoff_base_s, settings.webhook_backoff_max_s
            ),
            metrics,
            timeout_s=settings.webhook_timeout_s,
            concurrency=settings.webhook_concurrency,
        )
        return cls(settings, metrics, policy, hub, store, sender)

    async def start(self, bootstrap: str) -> None:
        """Start delivering ``crm.alerts`` (webhooks and SSE) from the broker at ``bootstrap``."""
        settings = self.settings
        if not settings.alerts_dispatcher or not bootstrap:
            return
        self.dispatcher = AlertDispatcher(
            bootstrap,
            settings.app_id,
            self.metrics,
            hub=self.hub,
            store=self.store,
            sender=self.sender,
            concurrency=settings.webhook_concurrency,
        )
        await self.dispatcher.start()

    async def stop(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.sender.close()
        self.store.close()
