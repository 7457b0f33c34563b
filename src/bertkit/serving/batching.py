"""Micro-batching: one worker thread owns the model and merges concurrent requests.

Requests queue as jobs; each pass of the worker takes the oldest job plus every queued job with
the same key (same endpoint and options) up to `max_items` items, and runs them in one model
call. Nothing waits for company unless `max_wait_s` > 0: while the model is busy, new requests
pile up and the next pass takes them together, so batching grows with load and adds no latency
when idle. If a merged call fails, each job is rerun alone so an error (say, one text too long)
reaches only the request that caused it.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

from bertkit.errors import BertkitError

logger = logging.getLogger(__name__)


class ServerBusy(BertkitError):
    """The request queue is full; the client should retry later."""


class ServerStopping(BertkitError):
    """The server shut down before the request ran."""


@dataclass
class Job:
    key: Hashable  # jobs with equal keys may share one model call
    items: list
    mergeable: bool = True
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """Runs `run(key, items) -> results` (one result per item) on a single worker thread."""

    def __init__(
        self,
        run: Callable[[Hashable, list], list],
        *,
        max_items: int = 128,
        max_wait_s: float = 0.0,
        max_queue: int = 256,
    ):
        self._run = run
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._pending: collections.deque[Job] = collections.deque()
        self._thread = threading.Thread(target=self._work, name="bertkit-inference", daemon=True)
        self._stop = threading.Event()
        self.calls = 0  # model calls made, for tests and /info
        self.jobs = 0  # jobs completed

    def start(self) -> None:
        self._thread.start()

    def submit(self, key: Hashable, items: list, mergeable: bool = True) -> Future:
        """Queue a job; its future resolves to the list of results, one per item."""
        if self._stop.is_set():
            raise ServerStopping("the server is shutting down")
        job = Job(key, list(items), mergeable)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServerBusy(
                f"the server has {self._queue.maxsize} requests waiting; retry shortly"
            ) from None
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, finish the running call, fail whatever is still queued."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("the inference thread is still running after %.0f s", timeout)
            return
        stopped = ServerStopping("the server shut down before the request ran")
        for job in self._drain():
            if not job.future.done():
                job.future.set_exception(stopped)

    # ---- worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                self._execute(batch)

    def _next_batch(self) -> list[Job]:
        """The oldest job and the compatible jobs queued behind it (empty if none came)."""
        if not self._pending:
            try:
                self._pending.append(self._queue.get(timeout=0.1))
            except queue.Empty:
                return []
        self._take_queued()
        first = self._pending.popleft()
        batch, count = [first], len(first.items)
        if first.mergeable:
            count = self._add_compatible(batch, count)
            deadline = time.monotonic() + self.max_wait_s
            while count < self.max_items and time.monotonic() < deadline:
                time.sleep(min(0.001, max(0.0, deadline - time.monotonic())))
                self._take_queued()
                count = self._add_compatible(batch, count)
        return batch

    def _take_queued(self) -> None:
        """Move every queued job to the pending list, oldest first."""
        while True:
            try:
                self._pending.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _add_compatible(self, batch: list[Job], count: int) -> int:
        key = batch[0].key
        kept: collections.deque[Job] = collections.deque()
        while self._pending:
            job = self._pending.popleft()
            if job.mergeable and job.key == key and count + len(job.items) <= self.max_items:
                batch.append(job)
                count += len(job.items)
            else:
                kept.append(job)
        self._pending = kept
        return count

    def _execute(self, batch: list[Job]) -> None:
        items = [item for job in batch for item in job.items]
        try:
            self.calls += 1
            results = self._run(batch[0].key, items)
            if len(results) != len(items):
                raise RuntimeError(f"{len(items)} items gave {len(results)} results")
        except Exception as error:  # noqa: BLE001 - every failure goes back to a client
            if len(batch) > 1:
                for job in batch:
                    self._execute([job])
                return
            if not isinstance(error, BertkitError):
                logger.exception("inference failed")
            batch[0].future.set_exception(error)
            self.jobs += 1
            return
        start = 0
        for job in batch:
            job.future.set_result(results[start : start + len(job.items)])
            start += len(job.items)
        self.jobs += len(batch)

    def _drain(self) -> list[Job]:
        self._take_queued()
        jobs = list(self._pending)
        self._pending.clear()
        return jobs
