"""The micro-batcher on its own: merging, splitting, error isolation, back-pressure, shutdown."""

from __future__ import annotations

import threading

import pytest

from bertkit.errors import InputError
from bertkit.serving.batching import MicroBatcher, ServerBusy, ServerStopping


class GatedRunner:
    """Records each call; the first call blocks until `release` so others can queue up."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, key, items):
        self.calls.append((key, list(items)))
        self.started.set()
        self.release.wait(10)
        if any(item == "bad" for item in items):
            raise InputError("item 'bad' is bad")
        return [f"{key}:{item}" for item in items]


@pytest.fixture
def runner():
    return GatedRunner()


def make_batcher(runner, **options) -> MicroBatcher:
    batcher = MicroBatcher(runner, **options)
    batcher.start()
    return batcher


def test_queued_jobs_with_equal_keys_share_one_call(runner):
    batcher = make_batcher(runner, max_items=10)
    first = batcher.submit("a", ["0"])
    assert runner.started.wait(5)
    queued = [batcher.submit("a", [f"{i}x", f"{i}y"]) for i in range(3)]
    other = batcher.submit("b", ["z"])
    runner.release.set()
    assert first.result(5) == ["a:0"]
    assert [future.result(5) for future in queued] == [[f"a:{i}x", f"a:{i}y"] for i in range(3)]
    assert other.result(5) == ["b:z"]
    assert [key for key, _ in runner.calls] == ["a", "a", "b"]  # 3 queued jobs: one call
    assert runner.calls[1][1] == ["0x", "0y", "1x", "1y", "2x", "2y"]
    batcher.close()


def test_merging_respects_max_items_and_unmergeable_jobs(runner):
    batcher = make_batcher(runner, max_items=3)
    batcher.submit("a", ["0"])
    assert runner.started.wait(5)
    futures = [batcher.submit("a", [str(i), str(i)]) for i in range(2)]
    solo = [batcher.submit("a", ["s"], mergeable=False) for _ in range(2)]
    runner.release.set()
    for future in futures + solo:
        future.result(5)
    sizes = [len(items) for _, items in runner.calls]
    assert sizes == [1, 2, 2, 1, 1]
    batcher.close()


def test_a_failing_item_fails_only_its_own_request(runner):
    batcher = make_batcher(runner)
    batcher.submit("a", ["0"])
    assert runner.started.wait(5)
    good, bad, also_good = (batcher.submit("a", items) for items in (["g"], ["bad"], ["h"]))
    runner.release.set()
    assert good.result(5) == ["a:g"] and also_good.result(5) == ["a:h"]
    with pytest.raises(InputError, match="bad"):
        bad.result(5)
    batcher.close()


def test_full_queue_raises_busy_and_close_fails_waiting_jobs(runner):
    batcher = make_batcher(runner, max_queue=2)
    running = batcher.submit("a", ["0"])
    assert runner.started.wait(5)
    waiting = [batcher.submit("a", ["1"]), batcher.submit("a", ["2"])]
    with pytest.raises(ServerBusy, match="retry"):
        batcher.submit("a", ["3"])
    closer = threading.Thread(target=batcher.close)
    closer.start()
    runner.release.set()
    closer.join(10)
    assert running.result(5) == ["a:0"]  # the running call finishes
    for future in waiting:
        with pytest.raises(ServerStopping):
            future.result(5)
    with pytest.raises(ServerStopping):
        batcher.submit("a", ["4"])


def test_cancelled_jobs_are_skipped(runner):
    batcher = make_batcher(runner)
    batcher.submit("a", ["0"])
    assert runner.started.wait(5)
    cancelled = batcher.submit("a", ["gone"])
    assert cancelled.cancel()
    kept = batcher.submit("a", ["kept"])
    runner.release.set()
    assert kept.result(5) == ["a:kept"]
    assert all("gone" not in items for _, items in runner.calls)
    batcher.close()
