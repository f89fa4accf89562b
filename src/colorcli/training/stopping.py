"""When a run stops early: Ctrl-C, the time budget (--max-minutes), the step limit (--max-steps)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import torch

from colorcli.training import distributed
from colorcli.training.config import TrainConfig
from colorcli.training.distributed import DistributedContext

STOP_FINISHED = "finished"
STOP_TIME = "time budget"
STOP_STEPS = "max steps"
STOP_INTERRUPTED = "interrupted"


class StopRequest:
    """Turns the first Ctrl-C (SIGINT) into a flag checked between steps; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Catch SIGINT while the block runs (main thread only), then put the old handler back."""
        try:
            previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: plain KeyboardInterrupt handling only
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class StopRules:
    """The run's limits and its Ctrl-C flag: why to stop now, and how long is left."""

    def __init__(
        self, config: TrainConfig, *, context: DistributedContext, device: torch.device
    ) -> None:
        self.max_steps = config.max_steps
        self.max_minutes = config.max_minutes
        self.context = context
        self.device = device
        self.request = StopRequest()

    def reason(self, *, step: int, elapsed: float, synced: bool) -> str | None:
        """Why to stop before optimizer step ``step``, if at all.

        The step limit is the same on every rank; Ctrl-C and the time budget are decided
        together at sync points (``synced``) under DDP, so that all ranks stop at one step.

        Args:
            step: optimizer steps done so far.
            elapsed: seconds this session has trained.
            synced: whether every rank checks at this step (DDP needs all of them).
        """
        if self.max_steps is not None and step >= self.max_steps:
            return STOP_STEPS
        if self.context.enabled and not synced:
            return None
        reason = None
        if self.request.requested:
            reason = STOP_INTERRUPTED
        elif self.max_minutes is not None and elapsed >= self.max_minutes * 60.0:
            reason = STOP_TIME
        if not self.context.enabled:
            return reason
        codes = (STOP_INTERRUPTED, STOP_TIME)
        flags = torch.zeros(len(codes), device=self.device)
        if reason is not None:
            flags[codes.index(reason)] = 1
        distributed.all_reduce_sum(flags, self.context)
        for code, flag in zip(codes, flags.tolist(), strict=True):
            if flag > 0:
                return code
        return None

    def eta(
        self, *, step: int, total_steps: int, steps_per_second: float, elapsed: float
    ) -> float | None:
        """Seconds until the last epoch, --max-steps or --max-minutes, whichever comes first."""
        target = total_steps
        if self.max_steps is not None:
            target = min(target, self.max_steps)
        remaining = None
        if steps_per_second > 0:
            remaining = max(0, target - step) / steps_per_second
        if self.max_minutes is not None:
            budget = self.max_minutes * 60.0 - elapsed
            remaining = budget if remaining is None else min(remaining, budget)
        return remaining
