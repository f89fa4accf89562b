"""Threads for the colourize stream: core counts, worker pools, thread settings, heap trim.

:class:`DaemonPool` runs a stream's reads and writes on daemon threads (one blocked in a
system call cannot keep the process alive); :class:`InlinePool` runs them in the calling
thread (``workers=0``). :func:`thread_settings` shares the cores between the workers and
torch for a run.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import cv2
import torch

_T = TypeVar("_T")


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(device: torch.device, cpus: int | None = None) -> int:
    """Worker threads for a run on ``device``: one per core (at most 16 on CPU, 32 on GPU).

    On CPU the model's torch threads are set to half the cores for the run (see
    :func:`model_threads`): a light model leaves most of the work to the workers, a heavy
    one keeps half the machine, and the two never oversubscribe it by more than half.
    """
    cpus = cpus or cpu_count()
    if device.type == "cpu":
        return max(1, min(16, cpus))
    return max(2, min(32, cpus - 1))


def model_threads(cpus: int | None = None) -> int:
    """torch threads during a CPU run with workers: half the cores, at least one."""
    return max(1, (cpus or cpu_count()) // 2)


@contextlib.contextmanager
def thread_settings(device: torch.device, workers: int) -> Iterator[None]:
    """Share the cores between workers and torch for the run; restore the settings after.

    OpenCV's own thread pool is turned off (workers already run in parallel); on CPU
    torch gets :func:`model_threads` (its setting is process-wide: the joins in the
    workers use it too).
    """
    if workers == 0:
        yield
        return
    torch_threads = torch.get_num_threads()
    cv2_threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        if device.type == "cpu":
            torch.set_num_threads(model_threads())
        yield
    finally:
        cv2.setNumThreads(cv2_threads)
        torch.set_num_threads(torch_threads)


class Clock:
    """Wall and thread-CPU time since the last :meth:`lap`."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.thread_time()

    def lap(self) -> tuple[float, float]:
        """(wall, cpu) seconds since the last lap (or the start), and start a new one."""
        wall, cpu = time.perf_counter(), time.thread_time()
        elapsed = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return elapsed


class InlinePool:
    """Runs submitted work at once in the calling thread (``workers=0``)."""

    def submit(self, fn: Callable[..., _T], /, *args: object) -> Future[_T]:
        future: Future[_T] = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, *, cancel_futures: bool = False, timeout: float | None = None) -> None:
        del cancel_futures, timeout


_Task = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """A fixed set of daemon worker threads running submitted calls in order.

    Unlike ``ThreadPoolExecutor``, whose threads the interpreter joins at exit, a thread
    stuck in a system call here cannot hang the end of the process; shutdown waits at
    most ``timeout`` seconds.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True)
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., _T], /, *args: object) -> Future[_T]:
        future: Future[_T] = Future()
        self._tasks.put((future, fn, args))
        return future

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as error:  # handed to the caller through the future
                future.set_exception(error)
            else:
                future.set_result(result)

    def shutdown(self, *, cancel_futures: bool = False, timeout: float | None = None) -> None:
        """Stop the threads once the queue is done (or cancelled); wait up to ``timeout``."""
        if cancel_futures:
            while True:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if task is not None:
                    task[0].cancel()
        for _ in self._threads:
            self._tasks.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def trim_heap() -> None:
    """Return freed heap memory to the system (glibc), so the peak stays flat over a run.

    Large images pass through blocks that glibc serves from each thread's heap (Pillow's
    16 MB image blocks, arrays under its mmap threshold); freed, they stay resident, and
    over hundreds of 4000 px images the peak crept up by 70-120 MB before this.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
