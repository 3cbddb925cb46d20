"""Groundswell: real-time social CRM engine (settings, CLI, metrics, process orchestration)."""

__version__ = "0.1.0"
