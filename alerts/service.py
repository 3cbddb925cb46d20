"""Everything the API process needs for alert delivery, built from settings in one call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from alerts.dispatcher import AlertDispatcher
from alerts.erasures import ErasedLookup
from alerts.metrics import AlertMetrics
from alerts.sse import AlertHub
from alerts.ssrf import AddressPolicy
from alerts.subscriptions import SubscriptionStore
from alerts.webhooks import RetryPolicy, WebhookSender
from groundswell.settings import Settings
from streams.broker import resolve_bootstrap

log = logging.getLogger(__name__)


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
    _waiter: asyncio.Task[None] | None = field(default=None, repr=False)

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

    async def start(self, bootstrap: str, erased_lookup: ErasedLookup | None = None) -> None:
        """Start delivering ``crm.alerts`` (webhooks and SSE) from the broker at ``bootstrap``;
        ``erased_lookup``: the graph's erased accounts, for alerts made before this start."""
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
            erased_lookup=erased_lookup,
        )
        await self.dispatcher.start()

    def start_when_broker_ready(
        self, retry_s: float = 2.0, erased_lookup: ErasedLookup | None = None
    ) -> None:
        """Start delivery in the background once the broker can be found (external Kafka, or the
        embedded broker's address file): the API serves meanwhile, and never blocks on it."""
        if not self.settings.alerts_dispatcher:
            return

        async def wait_then_start() -> None:
            while True:
                try:
                    bootstrap = await asyncio.to_thread(resolve_bootstrap, self.settings, 0.0)
                except RuntimeError:
                    await asyncio.sleep(retry_s)
                    continue
                await self.start(bootstrap, erased_lookup)
                log.info("alert delivery started (broker %s)", bootstrap)
                return

        self._waiter = asyncio.create_task(wait_then_start(), name="alerts-wait-for-broker")

    async def stop(self) -> None:
        if self._waiter is not None:
            self._waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waiter
            self._waiter = None
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.sender.close()
        self.store.close()
