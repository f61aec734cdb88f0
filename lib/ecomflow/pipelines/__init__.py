"""Pipelines: extract -> transform -> quality gate -> load, each in a screenful."""
