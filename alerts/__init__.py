"""Alerts: pure rules and spike detection over scored posts, and the adapters that deliver them
(the ``crm.alerts`` topic, signed webhooks, server-sent events). See docs/alerts.md."""
