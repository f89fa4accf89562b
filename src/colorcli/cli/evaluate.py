"""Placeholder for the `evaluate` command (being written)."""

from __future__ import annotations


def eval_command() -> None:
    """Not ready yet."""
    raise SystemExit("not implemented yet")
