"""Sinks: one module per store, each with a small public API and idempotent writes."""
