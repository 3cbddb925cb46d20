"""Compatibility: the alert model and rules moved to the ``alerts`` package (docs/alerts.md)."""

from __future__ import annotations

from alerts.rules import AlertEngine, SubjectState, ThresholdRule, default_rules
from alerts.schema import SCHEMA_VERSION, Alert, AlertKind, Severity

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AlertEngine",
    "AlertKind",
    "NegativeMentionRule",
    "Severity",
    "SubjectState",
    "ThresholdRule",
    "default_rules",
]


def NegativeMentionRule(
    sentiment_max: float, influence_min: float, name: str = "negative-mention-influential"
) -> ThresholdRule:
    """A negative post mentioning the company from an author at or above an influence threshold."""
    return ThresholdRule(name, Severity.HIGH, sentiment_max=sentiment_max, influence_min=influence_min)
