"""Placeholder for the `train` command (being written)."""

from __future__ import annotations


def train_command() -> None:
    """Not ready yet."""
    raise SystemExit("not implemented yet")
