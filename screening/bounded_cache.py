"""A bounded least-recently-used cache whose values are built once per key, safe across threads.

A hit takes one short lock. A miss builds under a lock of its own key only, so two threads
asking for one key build it once, while a slow build of one key never delays another key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``capacity`` values by key; the least recently used one goes first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a cache needs room for at least one value, not {capacity}")
        self.capacity = capacity
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()  # guards _values and _building
        self._building: dict[K, threading.Lock] = {}

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The value of ``key``, built by ``build()`` (once, whatever the threads) when absent."""
        with self._lock:
            if key in self._values:
                return self._hit(key)
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            try:
                with self._lock:
                    if key in self._values:  # built by the thread this one waited for
                        return self._hit(key)
                value = build()
                with self._lock:
                    self._values[key] = value
                    while len(self._values) > self.capacity:
                        self._values.popitem(last=False)
                return value
            finally:
                with self._lock:
                    if self._building.get(key) is key_lock:
                        del self._building[key]

    def _hit(self, key: K) -> V:
        """The value of a present key, marked most recently used (the caller holds ``_lock``)."""
        self._values.move_to_end(key)
        return self._values[key]

    def discard(self, key: K) -> None:
        """Drop ``key``'s value if present."""
        with self._lock:
            self._values.pop(key, None)

    def keys(self) -> list[K]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._values)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
