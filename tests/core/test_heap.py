"""A serving process freezes its startup heap and collects young objects less often
(app.core.heap), and reference cycles made afterwards are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.config import Settings
from app.core import heap
from tests.conftest import LiveServer


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector's settings as the test found them, put back afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_freezes_the_heap_and_raises_the_young_threshold(collector: None) -> None:
    heap.settle(5_000)
    assert gc.get_threshold()[0] == 5_000
    assert gc.get_freeze_count() > 0
    # a cycle made after settling is garbage the collector still finds
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # reference counting alone cannot free a cycle
    gc.collect()
    assert gone() is None


def test_zero_leaves_the_collector_alone(collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    heap.settle(0)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_served_app_settles_its_heap_at_startup(live_server: LiveServer,
                                                  settings: Settings) -> None:
    # live_server runs create_app with its own runtime, as `drift-cloud serve` does
    assert settings.gc_threshold > 0
    assert gc.get_threshold()[0] == settings.gc_threshold
    assert gc.get_freeze_count() > 0
